using AsrService.Grpc;
using AsrService.Grpc.Client;
using AsrService.Server;
using Microsoft.Extensions.Logging;

namespace AsrService.Integration.Tests;

/// <summary>
/// What the server logs about a call: every line of it carries the call id (the client's request_id) in a scope, and
/// transcript text appears only when the operator asked for it.
/// </summary>
[Collection(ModelCollection.Name)]
public sealed class CallLoggingTests(ModelFixture models)
{
    [DataTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StreamingRecognize_Speech_LinesCarryTheCallIdAndTranscriptsOnlyWhenAskedFor(bool logTranscripts)
    {
        var logs = new SecureServerFixture.CapturedLogs();
        await using var server = AsrServerHost.Build(
            models.Tiny,
            models.VoiceActivity,
            new AsrServiceOptions { LogTranscripts = logTranscripts },
            [new GrpcEndpointOptions { Host = "127.0.0.1", Port = 0 }],
            configure: builder =>
            {
                builder.Logging.ClearProviders();
                builder.Logging.AddProvider(logs);
            });
        await server.StartAsync();
        using var connection = GrpcClientConnection.ForAddress($"127.0.0.1:{server.Port}");
        var audio = StreamCalls.Pcm16(StreamCalls.ReadUtterance());

        var outcome = await StreamCalls.RunAsync(connection, [StreamCalls.Config(c => c.Config.RequestId = "caller-7"), .. StreamCalls.Chunks(audio)]);
        await server.StopAsync();

        var words = outcome.FinalText.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(words.Length > 5, $"too little was recognized to check: '{outcome.FinalText}'");
        var phrase = string.Join(' ', words[1..4]);
        var callLines = logs.Lines.Where(line => line.Contains("call caller-7 (StreamingRecognize)", StringComparison.Ordinal)).ToList();
        Assert.Contains(callLines, line => line.Contains("Stream started", StringComparison.Ordinal));
        Assert.Contains(callLines, line => line.Contains("StreamingRecognize ended with OK", StringComparison.Ordinal));
        Assert.Equal(logTranscripts, logs.Lines.Any(line => line.Contains(phrase, StringComparison.Ordinal)));
        Assert.Equal(logTranscripts, callLines.Any(line => line.Contains("Final result", StringComparison.Ordinal)));
    }
}
