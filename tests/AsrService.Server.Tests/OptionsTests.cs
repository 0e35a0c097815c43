using AsrService.Server;
using Microsoft.Extensions.Configuration;

namespace AsrService.Server.Tests;

public sealed class OptionsTests
{
    [Fact]
    public void Bind_AsrSection_SetsNamedPropertiesAndKeepsDefaults()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Asr:MaxConcurrentStreams"] = "8",
            ["Asr:MaxStreamDuration"] = "00:10:00",
            ["Asr:StreamIdleTimeout"] = "00:00:05",
            ["Asr:RealTimeMaxRate"] = "1.5",
            ["Asr:ApiKeys:0:Key"] = "0123456789abcdef-key",
            ["Asr:ApiKeys:0:Models:0"] = "tiny",
            ["Asr:MetricsPort"] = "9464",
            ["Asr:LogTranscripts"] = "true",
            ["Asr:EarlyFinals"] = "false",
        }).Build();

        var options = AsrServiceConfiguration.Bind(configuration, new AsrServiceOptions());
        options.Validate();

        Assert.Equal(8, options.MaxConcurrentStreams);
        Assert.Equal(TimeSpan.FromMinutes(10), options.MaxStreamDuration);
        Assert.Equal(TimeSpan.FromSeconds(5), options.StreamIdleTimeout);
        Assert.Equal(1.5, options.RealTimeMaxRate);
        Assert.Equal(["tiny"], Assert.Single(options.ApiKeys).Models);
        Assert.Equal(9464, options.MetricsPort);
        Assert.True(options.LogTranscripts);
        Assert.False(options.EarlyFinals);
        Assert.True(new AsrServiceOptions().EarlyFinals);
        Assert.Equal(new AsrServiceOptions().ShutdownGracePeriod, options.ShutdownGracePeriod);
    }

    [Fact]
    public void Bind_MisspelledOption_Throws()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Asr:MaxConcurentStreams"] = "8",
        }).Build();

        Assert.Throws<InvalidOperationException>(() => AsrServiceConfiguration.Bind(configuration, new AsrServiceOptions()));
    }

    [Theory]
    [InlineData("MaxStreamDuration")]
    [InlineData("RealTimeMaxRate")]
    [InlineData("ResponseQueueCapacity")]
    [InlineData("ApiKeys")]
    [InlineData("MetricsHost")]
    [InlineData("ConcurrentDecodes")]
    [InlineData("FinalsPerDecode")]
    [InlineData("PreemptInterimsAfter")]
    public void Validate_OutOfRange_NamesTheOption(string name)
    {
        var options = new AsrServiceOptions();
        switch (name)
        {
            case "MaxStreamDuration": options.MaxStreamDuration = TimeSpan.Zero; break;
            case "RealTimeMaxRate": options.RealTimeMaxRate = 0.5; break;
            case "ResponseQueueCapacity": options.ResponseQueueCapacity = 0; break;
            case "ApiKeys": options.ApiKeys.Add(new ApiKeyOptions { Key = "short-secret" }); break;
            case "MetricsHost": options.MetricsHost = "metrics.example"; break;
            case "ConcurrentDecodes": options.ConcurrentDecodes = -1; break;
            case "FinalsPerDecode": options.FinalsPerDecode = 0; break;
            case "PreemptInterimsAfter": options.PreemptInterimsAfter = TimeSpan.FromMilliseconds(-5); break;
        }

        var error = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Contains(name, error.Message);
        Assert.DoesNotContain("short-secret", error.Message);
    }
}
