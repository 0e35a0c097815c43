using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
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

    [Theory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public async Task Tls_ClientOfferingOnlyOneModernVersion_HandshakeNegotiatesIt(SslProtocols protocol)
    {
        await using var host = await StartTlsHostAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, host.Port);
        await using var tls = new SslStream(tcp.GetStream());

        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            EnabledSslProtocols = protocol,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });

        Assert.Equal(protocol, tls.SslProtocol);
    }

    [Theory]
    [InlineData(0x0301)]
    [InlineData(0x0302)]
    public async Task Tls_ClientHelloOfferingOnlyTls10Or11_ServerRefuses(int legacyVersion)
    {
        // Written by hand: the client-side TLS library of the test machine may itself refuse to offer these versions,
        // which would prove nothing about the server. (Where the machine's OpenSSL already refuses them server-side
        // too, as Debian's does, this passes without our setting; it guards the hosts whose OpenSSL does not.)
        await using var host = await StartTlsHostAsync();

        Assert.False(await ServerAnswersHelloAsync(host.Port, (ushort)legacyVersion), "the server accepted a TLS 1.0/1.1 ClientHello");
    }

    [Fact]
    public async Task Tls_HandWrittenTls12ClientHello_ServerAnswers()
    {
        // The control for the test above: the same hand-written hello, at version 1.2, gets a ServerHello.
        await using var host = await StartTlsHostAsync();

        Assert.True(await ServerAnswersHelloAsync(host.Port, 0x0303), "the server refused a well-formed TLS 1.2 ClientHello");
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

    private async Task<TestServerHost> StartTlsHostAsync()
    {
        var path = Path.Combine(_directory, $"server-{Guid.NewGuid():N}.pfx");
        await File.WriteAllBytesAsync(path, _certificate.Export(X509ContentType.Pkcs12, "secret"));
        return await TestServerHost.StartAsync(endpoint: new GrpcEndpointOptions { Host = "127.0.0.1", Port = 0, CertificatePath = path, CertificatePassword = "secret" });
    }

    /// <summary>
    /// Sends a minimal ClientHello that offers exactly one protocol version and returns whether the server answered
    /// with a handshake record (a ServerHello) rather than an alert or a closed connection.
    /// </summary>
    private static async Task<bool> ServerAnswersHelloAsync(int port, ushort version)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(ClientHello(version));

        var header = new byte[5];
        var read = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (read < header.Length)
        {
            var count = await stream.ReadAsync(header.AsMemory(read), timeout.Token);
            if (count == 0)
            {
                return false;
            }

            read += count;
        }

        const byte HandshakeRecord = 0x16;
        return header[0] == HandshakeRecord;
    }

    private static byte[] ClientHello(ushort version)
    {
        // Cipher suites usable with the test's ECDSA P-256 certificate at any version from TLS 1.0 to 1.2.
        ushort[] suites = [0xC02B, 0xC02C, 0xC009, 0xC00A];
        var extensions = new List<byte>();
        AddExtension(extensions, 0x000A, [0x00, 0x04, 0x00, 0x17, 0x00, 0x1D]);             // supported_groups: P-256, X25519
        AddExtension(extensions, 0x000B, [0x01, 0x00]);                                     // ec_point_formats: uncompressed
        AddExtension(extensions, 0x000D, [0x00, 0x06, 0x04, 0x03, 0x05, 0x03, 0x02, 0x03]); // signature_algorithms: ECDSA SHA-256/384/1

        var body = new List<byte> { (byte)(version >> 8), (byte)version };
        body.AddRange(RandomNumberGenerator.GetBytes(32));
        body.Add(0);                                                                        // no session id
        body.Add(0);
        body.Add((byte)(suites.Length * 2));
        foreach (var suite in suites)
        {
            body.Add((byte)(suite >> 8));
            body.Add((byte)suite);
        }

        body.AddRange([0x01, 0x00]);                                                        // compression: null only
        body.Add((byte)(extensions.Count >> 8));
        body.Add((byte)extensions.Count);
        body.AddRange(extensions);

        var handshake = new List<byte> { 0x01, 0, (byte)(body.Count >> 8), (byte)body.Count };
        handshake.AddRange(body);
        var record = new byte[5 + handshake.Count];
        record[0] = 0x16;
        record[1] = 0x03;
        record[2] = 0x01;                                                                   // record layer version, as browsers send
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(3), (ushort)handshake.Count);
        handshake.CopyTo(record, 5);
        return record;
    }

    private static void AddExtension(List<byte> extensions, ushort type, byte[] data)
    {
        extensions.Add((byte)(type >> 8));
        extensions.Add((byte)type);
        extensions.Add((byte)(data.Length >> 8));
        extensions.Add((byte)data.Length);
        extensions.AddRange(data);
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
