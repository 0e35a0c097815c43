using AsrService.Grpc;
using AsrService.Server;

namespace AsrService.Server.Tests;

public sealed class ApiKeyTests : IDisposable
{
    private const string Key = "0123456789abcdef-key";
    private readonly string _directory = Directory.CreateTempSubdirectory("asr-keys-").FullName;

    [Theory]
    [InlineData(Key, new string[0])]
    [InlineData(Key + ":tiny", new[] { "tiny" })]
    [InlineData(Key + ": tiny , base ", new[] { "tiny", "base" })]
    public void Parse_KeyWithOptionalModels_Split(string spec, string[] models)
    {
        var key = ApiKeyOptions.Parse(spec);

        Assert.Equal(Key, key.Key);
        Assert.Equal(models, key.Models);
    }

    [Theory]
    [InlineData("short")]
    [InlineData(Key + ":")]
    [InlineData("0123456789abcdef key")]
    [InlineData("0123456789abcdef-ключ")]
    public void Parse_BadSpec_FormatExceptionThatDoesNotQuoteTheKey(string spec)
    {
        var error = Assert.Throws<FormatException>(() => ApiKeyOptions.Parse(spec));

        Assert.DoesNotContain(spec.Split(':')[0], error.Message);
    }

    [Fact]
    public void ReadFile_CommentsAndBlankLines_Skipped()
    {
        var path = Path.Combine(_directory, "keys");
        File.WriteAllText(path, $"# team a\n\n{Key}:tiny\n  # indented comment\n{Key}-2\n");

        var keys = ApiKeyOptions.ReadFile(path);

        Assert.Equal(2, keys.Count);
        Assert.Equal(["tiny"], keys[0].Models);
        Assert.Equal("keys:3", keys[0].Name);
    }

    [Fact]
    public void ReadFile_BadLine_NamesTheLineNotTheKey()
    {
        var path = Path.Combine(_directory, "keys");
        File.WriteAllText(path, $"{Key}\ntooshort\n");

        var error = Assert.Throws<FormatException>(() => ApiKeyOptions.ReadFile(path));

        Assert.Contains("line 2", error.Message);
        Assert.DoesNotContain("tooshort", error.Message);
    }

    [Fact]
    public void Authenticate_NoKeysConfigured_EveryoneIn()
    {
        var authenticator = new ApiKeyAuthenticator(new AsrServiceOptions());

        Assert.False(authenticator.Enabled);
        Assert.Null(authenticator.Authenticate([]));
    }

    [Theory]
    [InlineData("authorization", "Bearer " + Key)]
    [InlineData("authorization", "BEARER   " + Key)]
    [InlineData("x-api-key", Key)]
    public void Authenticate_ValidKey_ReturnsIt(string header, string value)
    {
        var authenticator = new ApiKeyAuthenticator(new AsrServiceOptions { ApiKeys = [new ApiKeyOptions { Key = Key, Name = "ops" }] });

        var key = authenticator.Authenticate([new Metadata.Entry(header, value)]);

        Assert.Equal("ops", key?.Name);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("authorization", "Bearer")]
    [InlineData("authorization", "Token " + Key)]
    [InlineData("x-api-key", Key + "0")]
    public void Authenticate_MissingOrWrong_Unauthenticated(string? header, string? value)
    {
        var authenticator = new ApiKeyAuthenticator(new AsrServiceOptions { ApiKeys = [new ApiKeyOptions { Key = Key }] });
        var headers = header is null ? new Metadata() : new Metadata { { header, value! } };

        var error = Assert.Throws<RpcException>(() => authenticator.Authenticate(headers));

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public void Authorize_ModelOutsideTheKeysList_PermissionDeniedNamingTheAllowedOnes()
    {
        var authenticator = new ApiKeyAuthenticator(new AsrServiceOptions { ApiKeys = [new ApiKeyOptions { Key = Key, Models = ["tiny"] }] });
        var key = authenticator.Authenticate([new Metadata.Entry("x-api-key", Key)]);

        ApiKeyAuthenticator.Authorize(key, "Tiny");
        var error = Assert.Throws<RpcException>(() => ApiKeyAuthenticator.Authorize(key, "base"));

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.Contains("tiny", error.Status.Detail);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
