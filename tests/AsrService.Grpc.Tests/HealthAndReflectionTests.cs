using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace AsrService.Grpc.Tests;

public sealed class HealthAndReflectionTests
{
    private const string ReflectionMethod = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

    [Fact]
    public async Task HealthCheck_Overall_IsServing()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        var client = new Health.HealthClient(connection);

        var response = await client.CheckAsync(new HealthCheckRequest());

        Assert.Equal(ServingStatus.Serving, response.Status);
    }

    [Fact]
    public async Task HealthCheck_UnknownService_ReturnsNotFound()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        var client = new Health.HealthClient(connection);

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await client.CheckAsync(new HealthCheckRequest { Service = "no.such.Service" }));

        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
    }

    [Fact]
    public async Task HealthCheck_StatusSetByHost_IsReported()
    {
        await using var host = await TestServerHost.StartAsync();
        host.Server.Health.SetStatus("asrtest.v1.TestService", ServingStatus.NotServing);
        using var connection = host.Connect();
        var client = new Health.HealthClient(connection);

        var response = await client.CheckAsync(new HealthCheckRequest { Service = "asrtest.v1.TestService" });

        Assert.Equal(ServingStatus.NotServing, response.Status);
    }

    [Fact]
    public async Task HealthWatch_StatusChanges_AreStreamedAndShutdownEndsTheWatch()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        var client = new Health.HealthClient(connection);
        using var call = client.Watch(new HealthCheckRequest { Service = "asr.v1.Asr" });
        var stream = call.ResponseStream;

        Assert.True(await stream.MoveNext(CancellationToken.None));
        Assert.Equal(ServingStatus.ServiceUnknown, stream.Current.Status);

        host.Server.Health.SetStatus("asr.v1.Asr", ServingStatus.Serving);
        Assert.True(await stream.MoveNext(CancellationToken.None));
        Assert.Equal(ServingStatus.Serving, stream.Current.Status);

        // The same status again is not news; the switch to NOT_SERVING is.
        host.Server.Health.SetStatus("asr.v1.Asr", ServingStatus.Serving);
        host.Server.Health.SetStatus("asr.v1.Asr", ServingStatus.NotServing);
        Assert.True(await stream.MoveNext(CancellationToken.None));
        Assert.Equal(ServingStatus.NotServing, stream.Current.Status);

        host.Server.Health.SetStatus("asr.v1.Asr", ServingStatus.Serving);
        Assert.True(await stream.MoveNext(CancellationToken.None));
        Assert.Equal(ServingStatus.Serving, stream.Current.Status);

        host.Server.Health.EnterShutdown();
        Assert.True(await stream.MoveNext(CancellationToken.None));
        Assert.Equal(ServingStatus.NotServing, stream.Current.Status);
        var ex = await Assert.ThrowsAsync<RpcException>(() => stream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
    }

    [Fact]
    public async Task HealthWatch_HostStops_WatchersSeeNotServingAndStopIsNotHeldUp()
    {
        var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        var client = new Health.HealthClient(connection);
        using var call = client.Watch(new HealthCheckRequest());
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(ServingStatus.Serving, call.ResponseStream.Current.Status);

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        await host.DisposeAsync();

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(3), $"stop took {stopwatch.Elapsed}");
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(ServingStatus.NotServing, call.ResponseStream.Current.Status);
    }

    [Fact]
    public async Task Reflection_ListServices_ContainsRegisteredServices()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        using var call = connection.DuplexStreaming<ServerReflectionRequest, ServerReflectionResponse>(ReflectionMethod);

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var services = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.Contains("asrtest.v1.TestService", services);
        Assert.Contains("grpc.health.v1.Health", services);
        Assert.Contains("grpc.reflection.v1alpha.ServerReflection", services);
    }

    [Fact]
    public async Task Reflection_FileContainingSymbol_ReturnsFileAndDependencies()
    {
        await using var host = await TestServerHost.StartAsync();
        AsrService.Grpc.V1.Asr.BindService(host.Server.Registry, new UnimplementedAsr());
        using var connection = host.Connect();
        using var call = connection.DuplexStreaming<ServerReflectionRequest, ServerReflectionResponse>(ReflectionMethod);

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "asr.v1.Asr.StreamingRecognize" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var files = call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto
            .Select(bytes => FileDescriptorProto.Parser.ParseFrom(bytes))
            .ToList();

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileByFilename = "no/such/file.proto" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var error = call.ResponseStream.Current.ErrorResponse;

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "asr.v1.StreamingRecognizeResponse.SpeechEventType" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var nestedEnumFile = FileDescriptorProto.Parser.ParseFrom(call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto[0]);
        await call.RequestStream.CompleteAsync();

        Assert.Equal("asr/v1/asr.proto", files[0].Name);
        Assert.Contains(files[0].Service, s => s.Name == "Asr" && s.Method.Any(m => m.Name == "StreamingRecognize" && m.ClientStreaming && m.ServerStreaming));
        Assert.Contains(files, f => f.Name == "google/protobuf/duration.proto");
        Assert.Equal((int)StatusCode.NotFound, error.ErrorCode);
        Assert.Equal("asr/v1/asr.proto", nestedEnumFile.Name);
    }

    private sealed class UnimplementedAsr : AsrService.Grpc.V1.Asr.AsrBase
    {
    }
}
