namespace AsrService.Grpc;

/// <summary>
/// One address the server listens on. Without a certificate it speaks HTTP/2 in cleartext with prior knowledge
/// (what gRPC clients do for <c>http://</c> / "insecure" channels); with one it speaks TLS 1.2/1.3 and offers HTTP/2
/// and HTTP/1.1 through ALPN.
/// </summary>
public sealed class GrpcEndpointOptions
{
    /// <summary>
    /// Interface to bind: an IP address ("127.0.0.1", "0.0.0.0", "::"), "localhost" (both loopbacks) or "*" (every
    /// interface, IPv4 and IPv6). Default "127.0.0.1".
    /// </summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (read it back after start with <c>GetGrpcPort()</c>). Default 50051.</summary>
    public int Port { get; set; } = 50051;

    /// <summary>
    /// TLS certificate: a PEM file (with <see cref="CertificateKeyPath"/>, or with the key in the same file) or a PKCS#12
    /// file (.pfx/.p12). Null (default) for cleartext.
    /// </summary>
    public string? CertificatePath { get; set; }

    /// <summary>PEM private key of <see cref="CertificatePath"/>, when it is in a file of its own.</summary>
    public string? CertificateKeyPath { get; set; }

    /// <summary>Password of a PKCS#12 file or of an encrypted PEM key; null when there is none.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>Whether this endpoint uses TLS.</summary>
    public bool UseTls => CertificatePath is not null;

    internal IEnumerable<string> Validate()
    {
        if (Port is < 0 or > 65535)
        {
            yield return $"Port {Port} is outside 0-65535.";
        }

        if (string.IsNullOrWhiteSpace(Host))
        {
            yield return "Host is empty.";
        }

        if (CertificatePath is not null && !File.Exists(CertificatePath))
        {
            yield return $"Certificate file '{CertificatePath}' does not exist.";
        }

        if (CertificateKeyPath is not null && CertificatePath is null)
        {
            yield return "CertificateKeyPath is set without CertificatePath.";
        }

        if (CertificateKeyPath is not null && !File.Exists(CertificateKeyPath))
        {
            yield return $"Certificate key file '{CertificateKeyPath}' does not exist.";
        }
    }
}
