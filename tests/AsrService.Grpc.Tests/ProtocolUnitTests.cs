using AsrService.Grpc.Internal;

namespace AsrService.Grpc.Tests;

public sealed class ProtocolUnitTests
{
    [Theory]
    [InlineData("1H", 36_000_000_000L)]
    [InlineData("2M", 1_200_000_000L)]
    [InlineData("30S", 300_000_000L)]
    [InlineData("250m", 2_500_000L)]
    [InlineData("1500u", 15_000L)]
    [InlineData("1n", 1L)]
    [InlineData("99999999S", 999_999_990_000_000L)]
    public void GrpcTimeout_TryParse_ValidValue_GivesDuration(string value, long ticks)
    {
        Assert.True(GrpcTimeout.TryParse(value, out var timeout));
        Assert.Equal(ticks, timeout.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("10s")]
    [InlineData("-1S")]
    [InlineData("123456789S")]
    [InlineData("1.5S")]
    public void GrpcTimeout_TryParse_InvalidValue_Fails(string value)
    {
        Assert.False(GrpcTimeout.TryParse(value, out _));
    }

    [Theory]
    [InlineData(250, "250000u")]
    [InlineData(99_999, "99999000u")]
    [InlineData(200_000, "200000m")]
    [InlineData(100_000_000, "100000S")]
    public void GrpcTimeout_Format_PicksFinestUnitThatFits(long milliseconds, string expected)
    {
        Assert.Equal(expected, GrpcTimeout.Format(TimeSpan.FromMilliseconds(milliseconds)));
    }

    [Fact]
    public void GrpcTimeout_Format_NeverShortensTheTimeout()
    {
        var timeout = TimeSpan.FromTicks(12_345_678_901);
        Assert.True(GrpcTimeout.TryParse(GrpcTimeout.Format(timeout), out var parsed));
        Assert.True(parsed >= timeout);
        Assert.True(parsed - timeout < TimeSpan.FromMilliseconds(1));
    }

    [Theory]
    [InlineData("plain ascii", "plain ascii")]
    [InlineData("100%", "100%25")]
    [InlineData("a\nb", "a%0Ab")]
    [InlineData("é", "%C3%A9")]
    public void PercentEncoding_Encode_EscapesNonPrintableAndPercent(string value, string expected)
    {
        Assert.Equal(expected, PercentEncoding.Encode(value));
        Assert.Equal(value, PercentEncoding.Decode(expected));
    }

    [Theory]
    [InlineData("50%", "50%")]
    [InlineData("%zz", "%zz")]
    [InlineData("%C3", "\uFFFD")]
    public void PercentEncoding_Decode_IsLenient(string value, string expected)
    {
        Assert.Equal(expected, PercentEncoding.Decode(value));
    }

    [Fact]
    public void Metadata_Keys_AreNormalisedAndValidated()
    {
        var metadata = new Metadata { { "X-Request-Id", "abc" } };

        Assert.Equal("x-request-id", metadata[0].Key);
        Assert.Equal("abc", metadata.GetValue("x-request-id"));
        Assert.Throws<ArgumentException>(() => metadata.Add("bad key", "v"));
        Assert.Throws<ArgumentException>(() => metadata.Add("text-bin", "v"));
        Assert.Throws<ArgumentException>(() => metadata.Add("binary", new byte[] { 1 }));
        Assert.Throws<ArgumentException>(() => metadata.Add("x", "line\nbreak"));
        Assert.Throws<InvalidOperationException>(() => Metadata.Empty.Add("x", "y"));
    }

    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("application/grpc; charset=utf-8", true)]
    [InlineData("application/grpc+json", false)]
    [InlineData("application/json", false)]
    [InlineData(null, false)]
    public void GrpcProtocol_IsGrpcContentType_AcceptsProtobufVariantsOnly(string? contentType, bool expected)
    {
        Assert.Equal(expected, GrpcProtocol.IsGrpcContentType(contentType));
    }

    [Fact]
    public void Registry_DuplicateOrMalformedMethod_Throws()
    {
        var registry = new GrpcServiceRegistry();
        registry.AddUnary<V1.EchoRequest, V1.EchoResponse>("/a.B/C", (r, _) => Task.FromResult(new V1.EchoResponse()));

        Assert.Throws<InvalidOperationException>(() =>
            registry.AddUnary<V1.EchoRequest, V1.EchoResponse>("/a.B/C", (r, _) => Task.FromResult(new V1.EchoResponse())));
        Assert.Throws<ArgumentException>(() =>
            registry.AddUnary<V1.EchoRequest, V1.EchoResponse>("a.B/C", (r, _) => Task.FromResult(new V1.EchoResponse())));
        Assert.Throws<ArgumentException>(() =>
            registry.AddUnary<V1.EchoRequest, V1.EchoResponse>("/a.B/C/D", (r, _) => Task.FromResult(new V1.EchoResponse())));
        Assert.Equal(["a.B"], registry.ServiceNames);
    }
}
