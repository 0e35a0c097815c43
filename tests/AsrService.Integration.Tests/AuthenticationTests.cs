using AsrService.Grpc;
using AsrService.Grpc.V1;
using Google.Protobuf;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;

namespace AsrService.Integration.Tests;

/// <summary>API keys through the real transport: who gets in, who may use which model, what stays open, and that no
/// key ever reaches the logs.</summary>
[Collection(SecureServerCollection.Name)]
public sealed class AuthenticationTests(SecureServerFixture fixture)
{
    public static TheoryData<string, string> BadCredentials => new()
    {
        { "x-api-key", "not-a-key-we-ever-issued" },
        { "authorization", "Bearer not-a-key-we-ever-issued" },
        { "authorization", "Bearer " + SecureServerFixture.AnyModelKey + "x" },
        { "authorization", "Bearer " + SecureServerFixture.AnyModelKey[..^1] },
        { "authorization", "Basic " + SecureServerFixture.AnyModelKey },
        { "authorization", SecureServerFixture.AnyModelKey },
    };

    [Fact]
    public async Task StreamingRecognize_NoCredentials_Unauthenticated()
    {
        var outcome = await StreamAsync(headers: null);

        Assert.Equal(StatusCode.Unauthenticated, outcome.Status.StatusCode);
        Assert.Contains("API key", outcome.Status.Detail);
    }

    [Theory]
    [MemberData(nameof(BadCredentials))]
    public async Task StreamingRecognize_InvalidCredentials_Unauthenticated(string header, string value)
    {
        var outcome = await StreamAsync(new Metadata { { header, value } });

        Assert.Equal(StatusCode.Unauthenticated, outcome.Status.StatusCode);
    }

    [Theory]
    [InlineData("authorization", "Bearer " + SecureServerFixture.AnyModelKey)]
    [InlineData("authorization", "bearer " + SecureServerFixture.AnyModelKey)]
    [InlineData("x-api-key", SecureServerFixture.AnyModelKey)]
    [InlineData("x-api-key", SecureServerFixture.FileKey)]
    public async Task StreamingRecognize_ValidKey_Ok(string header, string value)
    {
        var outcome = await StreamAsync(new Metadata { { header, value } });

        Assert.Equal(StatusCode.OK, outcome.Status.StatusCode);
    }

    [Theory]
    [InlineData(SecureServerFixture.TinyOnlyKey, "")]
    [InlineData(SecureServerFixture.TinyOnlyKey, "tiny")]
    [InlineData(SecureServerFixture.TinyOnlyKey, "TINY")]
    [InlineData(SecureServerFixture.FileKey, "tiny")]
    public async Task StreamingRecognize_KeyAllowedTheModel_Ok(string key, string model)
    {
        var outcome = await StreamAsync(Bearer(key), model);

        Assert.Equal(StatusCode.OK, outcome.Status.StatusCode);
    }

    [Theory]
    [InlineData(SecureServerFixture.BaseOnlyKey, "")]
    [InlineData(SecureServerFixture.BaseOnlyKey, "tiny")]
    [InlineData(SecureServerFixture.TinyOnlyKey, "base")]
    public async Task StreamingRecognize_KeyNotAllowedTheModel_PermissionDenied(string key, string model)
    {
        var outcome = await StreamAsync(Bearer(key), model);

        Assert.Equal(StatusCode.PermissionDenied, outcome.Status.StatusCode);
        Assert.Contains("may not use model", outcome.Status.Detail);
    }

    [Fact]
    public async Task Recognize_NoCredentialsOrWrongModel_UnauthenticatedOrPermissionDenied()
    {
        var client = new Asr.AsrClient(fixture.Connection);
        var request = new RecognizeRequest
        {
            Config = new RecognitionConfig { Encoding = Grpc.V1.AudioEncoding.Linear16, SampleRateHertz = 16_000 },
            AudioContent = ByteString.CopyFrom(new byte[32_000]),
        };

        var anonymous = await Assert.ThrowsAsync<RpcException>(async () => await client.RecognizeAsync(request));
        var wrongModel = await Assert.ThrowsAsync<RpcException>(async () => await client.RecognizeAsync(request, Bearer(SecureServerFixture.BaseOnlyKey)));
        var response = await client.RecognizeAsync(request, Bearer(SecureServerFixture.TinyOnlyKey));

        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, wrongModel.StatusCode);
        Assert.Empty(response.Results);
    }

    [Fact]
    public async Task ListModels_NeedsAnyValidKey()
    {
        var client = new Asr.AsrClient(fixture.Connection);

        var anonymous = await Assert.ThrowsAsync<RpcException>(async () => await client.ListModelsAsync(new ListModelsRequest()));
        var response = await client.ListModelsAsync(new ListModelsRequest(), Bearer(SecureServerFixture.BaseOnlyKey));

        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);
        Assert.Contains(response.Models, m => m.Loaded);
    }

    [Fact]
    public async Task HealthAndReflection_WithoutCredentials_StayOpen()
    {
        var health = await new Health.HealthClient(fixture.Connection).CheckAsync(new HealthCheckRequest());
        using var reflection = fixture.Connection.DuplexStreaming<ServerReflectionRequest, ServerReflectionResponse>(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
        await reflection.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = string.Empty });
        await reflection.RequestStream.CompleteAsync();
        Assert.True(await reflection.ResponseStream.MoveNext(CancellationToken.None));

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
        Assert.Contains(reflection.ResponseStream.Current.ListServicesResponse.Service, s => s.Name == Asr.ServiceName);
    }

    [Fact]
    public async Task Logs_AfterAcceptedAndRejectedCalls_NeverContainAKey()
    {
        foreach (var key in SecureServerFixture.AllKeys)
        {
            await StreamAsync(Bearer(key));
            await StreamAsync(Bearer(key + "-wrong"));
            await StreamAsync(Bearer(key), model: "base");
        }

        Assert.NotEmpty(fixture.Logs.Lines);
        Assert.Contains(fixture.Logs.Lines, line => line.Contains("Rejected", StringComparison.Ordinal));
        foreach (var line in fixture.Logs.Lines)
        {
            foreach (var key in SecureServerFixture.AllKeys)
            {
                Assert.DoesNotContain(key, line, StringComparison.Ordinal);
            }
        }
    }

    private static Metadata Bearer(string key) => new() { { "authorization", "Bearer " + key } };

    private Task<StreamOutcome> StreamAsync(Metadata? headers, string model = "") =>
        StreamCalls.RunAsync(
            fixture.Connection,
            [StreamCalls.Config(c => c.Config.Model = model), .. StreamCalls.Chunks(new byte[6_400])],
            headers: headers);
}
