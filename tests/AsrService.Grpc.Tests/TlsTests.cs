using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AsrService.Grpc.Client;
using AsrService.Grpc.Tests.V1;

namespace AsrService.Grpc.Tests;

public sealed class TlsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("asr-grpc-tls-").FullName;
    private readonly X509Certificate2 _certificate = CreateSelfSigned();

    [Fact]
    public async Task Tls_PfxCertificate_UnaryCallSucceedsOverHttp2()
    {
        var path = Path.Combine(_directory, "server.pfx");
        await File.WriteAllBytesAsync(path, _certificate.Export(X509ContentType.Pkcs12, "secret"));

        await AssertEchoOverTlsAsync(new GrpcEndpointOptions { Port = 0, CertificatePath = path, CertificatePassword = "secret" });
    }

    [Fact]
    public async Task Tls_PemCertificateAndKey_UnaryCallSucceedsOverHttp2()
    {
        var certificatePath = Path.Combine(_directory, "server.crt");
        var keyPath = Path.Combine(_directory, "server.key");
        await File.WriteAllTextAsync(certificatePath, _certificate.ExportCertificatePem());
        using (var key = _certificate.GetECDsaPrivateKey()!)
        {
            await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());
        }

        await AssertEchoOverTlsAsync(new GrpcEndpointOptions { Port = 0, CertificatePath = certificatePath, CertificateKeyPath = keyPath });
    }

    public void Dispose()
    {
        _certificate.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private async Task AssertEchoOverTlsAsync(GrpcEndpointOptions endpoint)
    {
        endpoint.Host = "127.0.0.1";
        await using var host = await TestServerHost.StartAsync(endpoint: endpoint);
        var thumbprint = _certificate.Thumbprint;
        var handler = new SocketsHttpHandler();
        // Trust exactly the test certificate; nothing else about the chain matters here.
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            certificate is not null && new X509Certificate2(certificate).Thumbprint == thumbprint;
        using var connection = new GrpcClientConnection(new Uri($"https://127.0.0.1:{host.Port}"), new GrpcClientOptions { HttpHandler = handler });

        using var call = connection.UnaryAsync<EchoRequest, EchoResponse>(TestService.Echo, new EchoRequest { Text = "secure" });
        var response = await call;

        Assert.Equal("secure", response.Text);
        Assert.Equal("https", host.Address.Scheme);
    }

    private static X509Certificate2 CreateSelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }
}
