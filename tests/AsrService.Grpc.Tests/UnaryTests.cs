using System.Net;
using AsrService.Grpc.Client;
using AsrService.Grpc.Tests.V1;
using Google.Protobuf;

namespace AsrService.Grpc.Tests;

public sealed class UnaryTests
{
    [Fact]
    public async Task Unary_RoundTrip_ReturnsResponseHeadersAndTrailers()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        var headers = new Metadata { { "x-echo", "hello header" }, { "x-binary-bin", new byte[] { 0, 1, 2, 255 } } };

        using var call = connection.UnaryAsync<EchoRequest, EchoResponse>(
            TestService.Echo,
            new EchoRequest { Text = "hello", ResponsePayloadSize = 3 },
            new CallOptions(headers));
        var response = await call;

        Assert.Equal("hello", response.Text);
        Assert.Equal(3, response.Payload.Length);
        Assert.Equal("hello header", response.EchoHeader);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("echoed", call.GetTrailers().GetValue("x-trailer"));
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, call.GetTrailers().GetValueBytes("x-binary-bin"));
    }

    [Fact]
    public async Task Unary_LargeMessagesBothWays_SpanManyDataFrames()
    {
        // 1 MiB up and 3 MiB down: far above HTTP/2's 16 KiB frame size and Kestrel's initial windows.
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        var payload = ByteString.CopyFrom(Enumerable.Range(0, 1024 * 1024).Select(i => (byte)i).ToArray());

        var response = await connection.UnaryAsync<EchoRequest, EchoResponse>(
            TestService.Echo,
            new EchoRequest { Text = "big", Payload = payload, ResponsePayloadSize = 3 * 1024 * 1024 });

        Assert.Equal(1024 * 1024, response.RequestPayloadSize);
        Assert.Equal(3 * 1024 * 1024, response.Payload.Length);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    public async Task Unary_CompressedRequest_IsDecompressedByServer(string algorithm)
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect(new GrpcClientOptions { RequestCompression = algorithm });

        var response = await connection.UnaryAsync<EchoRequest, EchoResponse>(
            TestService.Echo,
            new EchoRequest { Text = "squeezed", Payload = ByteString.CopyFrom(new byte[200_000]) });

        Assert.Equal("squeezed", response.Text);
        Assert.Equal(200_000, response.RequestPayloadSize);
        Assert.Equal(algorithm, response.RequestEncoding);
    }

    [Fact]
    public async Task Unary_RawGzipFrame_IsDecompressedByServer()
    {
        await using var host = await TestServerHost.StartAsync();
        using var http = host.CreateRawClient();
        var frame = RawGrpc.Frame(new EchoRequest { Text = "raw gzip", Payload = ByteString.CopyFrom(new byte[10_000]) }, "gzip");
        using var request = RawGrpc.Request(TestService.Echo, new ByteArrayContent(frame));
        request.Headers.TryAddWithoutValidation("grpc-encoding", "gzip");

        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal("0", RawGrpc.Header(response.TrailingHeaders, "grpc-status"));
        var echo = EchoResponse.Parser.ParseFrom(Assert.Single(RawGrpc.ParseFrames(body)).Payload);
        Assert.Equal("raw gzip", echo.Text);
        Assert.Equal(10_000, echo.RequestPayloadSize);
    }

    [Fact]
    public async Task Unary_ServerCompressesResponses_WhenClientAcceptsGzip()
    {
        await using var host = await TestServerHost.StartAsync(o => o.ResponseCompressionAlgorithm = "gzip");
        using var http = host.CreateRawClient();
        using var request = RawGrpc.Request(TestService.Echo, new ByteArrayContent(RawGrpc.Frame(new EchoRequest { ResponsePayloadSize = 50_000 })));
        request.Headers.TryAddWithoutValidation("grpc-accept-encoding", "identity,gzip");

        using var response = await http.SendAsync(request);
        var frame = Assert.Single(RawGrpc.ParseFrames(await response.Content.ReadAsByteArrayAsync()));

        Assert.Equal("gzip", RawGrpc.Header(response.Headers, "grpc-encoding"));
        Assert.True(frame.Compressed);
        Assert.True(frame.Payload.Length < 50_000);
        Assert.Equal(50_000, EchoResponse.Parser.ParseFrom(RawGrpc.Gunzip(frame.Payload)).Payload.Length);

        // And our own client, which accepts gzip, reads such responses.
        using var connection = host.Connect();
        var echo = await connection.UnaryAsync<EchoRequest, EchoResponse>(TestService.Echo, new EchoRequest { ResponsePayloadSize = 50_000 });
        Assert.Equal(50_000, echo.Payload.Length);
    }

    [Fact]
    public async Task Unary_UnsupportedRequestEncoding_ReturnsUnimplementedWithAcceptEncoding()
    {
        await using var host = await TestServerHost.StartAsync();
        using var http = host.CreateRawClient();
        using var request = RawGrpc.Request(TestService.Echo, new ByteArrayContent(RawGrpc.Frame(new EchoRequest())));
        request.Headers.TryAddWithoutValidation("grpc-encoding", "br");

        using var response = await http.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("12", RawGrpc.Header(response.Headers, "grpc-status"));
        var accepted = RawGrpc.Header(response.Headers, "grpc-accept-encoding");
        Assert.NotNull(accepted);
        Assert.Contains("gzip", accepted, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unary_OversizedRequest_ReturnsResourceExhausted()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await connection.UnaryAsync<EchoRequest, EchoResponse>(
            TestService.Echo,
            new EchoRequest { Payload = ByteString.CopyFrom(new byte[5 * 1024 * 1024]) }));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    [Fact]
    public async Task Unary_ConfiguredReceiveLimit_AppliesToDecompressedSize()
    {
        // 200 KB of zeros gzip to a few hundred bytes: the limit must count what the message becomes.
        await using var host = await TestServerHost.StartAsync(o => o.MaxReceiveMessageSize = 100_000);
        using var connection = host.Connect(new GrpcClientOptions { RequestCompression = "gzip" });

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await connection.UnaryAsync<EchoRequest, EchoResponse>(
            TestService.Echo,
            new EchoRequest { Payload = ByteString.CopyFrom(new byte[200_000]) }));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    [Fact]
    public async Task Unary_OversizedResponse_ClientReportsResourceExhausted()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect(new GrpcClientOptions { MaxReceiveMessageSize = 1024 * 1024 });

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await connection.UnaryAsync<EchoRequest, EchoResponse>(
            TestService.Echo,
            new EchoRequest { ResponsePayloadSize = 2 * 1024 * 1024 }));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    [Fact]
    public async Task Unary_ResponseOverServerSendLimit_ReturnsResourceExhausted()
    {
        await using var host = await TestServerHost.StartAsync(o => o.MaxSendMessageSize = 1000);
        using var connection = host.Connect();

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await connection.UnaryAsync<EchoRequest, EchoResponse>(
            TestService.Echo,
            new EchoRequest { ResponsePayloadSize = 2000 }));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    [Theory]
    [InlineData("/asrtest.v1.TestService/NoSuchMethod", "Method is unimplemented.")]
    [InlineData("/no.such.Service/Echo", "Service is unimplemented.")]
    public async Task Unary_UnknownMethod_ReturnsUnimplemented(string method, string detail)
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();

        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await connection.UnaryAsync<EchoRequest, EchoResponse>(method, new EchoRequest()));

        Assert.Equal(StatusCode.Unimplemented, ex.StatusCode);
        Assert.Equal(detail, ex.Status.Detail);
    }

    [Fact]
    public async Task Unary_HandlerThrowsRpcException_StatusAndPercentDecodedDetailArrive()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        const string detail = "bad config: 100% wrong\r\nline two, ünïcödé ✓ 音声 😀";

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await connection.UnaryAsync<FailRequest, EchoResponse>(
            TestService.Fail,
            new FailRequest { Code = (int)StatusCode.InvalidArgument, Detail = detail }));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal(detail, ex.Status.Detail);
    }

    [Fact]
    public async Task Unary_HandlerThrowsOtherException_ReturnsInternalWithoutExceptionText()
    {
        await using var host = await TestServerHost.StartAsync();
        host.Server.Registry.AddUnary<EchoRequest, EchoResponse>(
            "/asrtest.v1.Broken/Echo",
            (_, _) => throw new InvalidOperationException("secret internals"));
        using var connection = host.Connect();

        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await connection.UnaryAsync<EchoRequest, EchoResponse>("/asrtest.v1.Broken/Echo", new EchoRequest()));

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
        Assert.DoesNotContain("secret", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unary_ErrorBeforeFirstMessage_IsTrailersOnly()
    {
        await using var host = await TestServerHost.StartAsync();
        using var http = host.CreateRawClient();
        var frame = RawGrpc.Frame(new FailRequest { Code = (int)StatusCode.NotFound, Detail = "no such model: 'x'" });
        using var request = RawGrpc.Request(TestService.Fail, new ByteArrayContent(frame));

        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("5", RawGrpc.Header(response.Headers, "grpc-status"));
        Assert.Equal("no such model: 'x'", RawGrpc.Header(response.Headers, "grpc-message"));
        Assert.Empty(body);
        Assert.Null(RawGrpc.Header(response.TrailingHeaders, "grpc-status"));
    }

    [Fact]
    public async Task Unary_SuccessfulCall_HasStatusInTrailersNotHeaders()
    {
        await using var host = await TestServerHost.StartAsync();
        using var http = host.CreateRawClient();
        using var request = RawGrpc.Request(TestService.Echo, new ByteArrayContent(RawGrpc.Frame(new EchoRequest { Text = "t" })));

        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Null(RawGrpc.Header(response.Headers, "grpc-status"));
        Assert.Equal("0", RawGrpc.Header(response.TrailingHeaders, "grpc-status"));
        Assert.Single(RawGrpc.ParseFrames(body));
    }

    [Fact]
    public async Task Request_NotPost_Returns405WithGrpcStatus()
    {
        await using var host = await TestServerHost.StartAsync();
        using var http = host.CreateRawClient();
        using var request = RawGrpc.Http2(HttpMethod.Get, TestService.Echo);
        request.Headers.TryAddWithoutValidation("content-type", "application/grpc");

        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("13", RawGrpc.Header(response.Headers, "grpc-status"));
    }

    [Fact]
    public async Task Request_WrongContentType_Returns415WithGrpcStatus()
    {
        await using var host = await TestServerHost.StartAsync();
        using var http = host.CreateRawClient();
        using var request = RawGrpc.Http2(HttpMethod.Post, TestService.Echo);
        request.Content = new StringContent("{}");

        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("13", RawGrpc.Header(response.Headers, "grpc-status"));
    }

    [Fact]
    public async Task Request_UnknownPathWithoutGrpcContentType_Returns404()
    {
        await using var host = await TestServerHost.StartAsync();
        using var http = host.CreateRawClient();

        using var response = await http.GetAsync("/favicon/ico");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Connect_NoServer_ReturnsUnavailable()
    {
        // A port that was free a moment ago: nothing listens there.
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        using var connection = GrpcClientConnection.ForAddress($"127.0.0.1:{port}");
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await connection.UnaryAsync<EchoRequest, EchoResponse>(TestService.Echo, new EchoRequest()));

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
    }
}
