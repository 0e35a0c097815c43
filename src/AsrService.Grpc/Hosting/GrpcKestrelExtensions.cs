using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;

namespace AsrService.Grpc;

/// <summary>Kestrel set-up for gRPC endpoints, and reading back where the server listens.</summary>
public static class GrpcKestrelExtensions
{
    /// <summary>The TLS versions a TLS endpoint accepts: 1.2 and 1.3 only.</summary>
    public const SslProtocols AllowedTlsProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>
    /// Listens on an endpoint for gRPC: HTTP/2 only in cleartext (prior knowledge, since there is no TLS handshake to
    /// negotiate it), HTTP/1.1 and HTTP/2 under TLS (ALPN picks; gRPC clients ask for h2).
    /// </summary>
    public static KestrelServerOptions ListenGrpc(this KestrelServerOptions kestrel, GrpcEndpointOptions endpoint)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        ArgumentNullException.ThrowIfNull(endpoint);
        var problems = endpoint.Validate().ToList();
        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid gRPC endpoint: " + string.Join(" ", problems), nameof(endpoint));
        }

        // Loaded once, here, so that a bad certificate fails start-up rather than the first handshake.
        var certificate = endpoint.UseTls ? LoadCertificate(endpoint) : null;
        void Configure(ListenOptions listen)
        {
            if (certificate is null)
            {
                listen.Protocols = HttpProtocols.Http2;
            }
            else
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = certificate,
                    // Named explicitly so that an operating system whose OpenSSL still allows TLS 1.0/1.1 (deprecated
                    // by RFC 8996) cannot widen what we accept; gRPC itself requires TLS 1.2 or later.
                    SslProtocols = AllowedTlsProtocols,
                });
            }
        }

        switch (endpoint.Host)
        {
            case "localhost":
                kestrel.ListenLocalhost(endpoint.Port, Configure);
                break;
            case "*":
            case "+":
                kestrel.ListenAnyIP(endpoint.Port, Configure);
                break;
            default:
                if (!IPAddress.TryParse(endpoint.Host, out var address))
                {
                    throw new ArgumentException($"Host '{endpoint.Host}' is not an IP address, 'localhost' or '*'.", nameof(endpoint));
                }

                kestrel.Listen(address, endpoint.Port, Configure);
                break;
        }

        return kestrel;
    }

    /// <summary>
    /// The addresses a started server listens on, with the actual ports (so port 0 reads back as the one picked), e.g.
    /// <c>http://127.0.0.1:43127</c>.
    /// </summary>
    public static IReadOnlyList<Uri> GetListeningAddresses(this IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var addresses = services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses
            ?? throw new InvalidOperationException("The server does not report its addresses.");
        var result = new List<Uri>();
        foreach (var address in addresses)
        {
            // Kestrel writes wildcard binds as http://[::]:port or http://0.0.0.0:port, which Uri parses fine.
            result.Add(new Uri(address));
        }

        return result;
    }

    /// <summary>The port of the first listening address of a started server.</summary>
    public static int GetGrpcPort(this IServiceProvider services)
    {
        var addresses = services.GetListeningAddresses();
        return addresses.Count > 0
            ? addresses[0].Port
            : throw new InvalidOperationException("The server is not listening yet: read the port after StartAsync.");
    }

    internal static X509Certificate2 LoadCertificate(GrpcEndpointOptions endpoint)
    {
        var path = endpoint.CertificatePath!;
        var extension = Path.GetExtension(path);
        if (extension.Equals(".pfx", StringComparison.OrdinalIgnoreCase) || extension.Equals(".p12", StringComparison.OrdinalIgnoreCase))
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, endpoint.CertificatePassword);
        }

        var certificate = endpoint.CertificatePassword is null
            ? X509Certificate2.CreateFromPemFile(path, endpoint.CertificateKeyPath)
            : X509Certificate2.CreateFromEncryptedPemFile(path, endpoint.CertificatePassword, endpoint.CertificateKeyPath);
        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new InvalidOperationException($"Certificate '{path}' has no private key; set CertificateKeyPath.");
        }

        return certificate;
    }
}
