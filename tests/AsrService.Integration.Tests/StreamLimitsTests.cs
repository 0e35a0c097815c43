using System.Diagnostics;
using AsrService.Grpc;
using AsrService.Grpc.V1;
using AsrService.Server;
using AsrService.Server.Metrics;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Xunit.Abstractions;

namespace AsrService.Integration.Tests;

/// <summary>
/// Each per-stream limit reached through the real transport with the real model (see <see cref="LimitsServerFixture"/>
/// for the limits), and checked for what the client sees: which results arrive first, the status code, the message.
/// </summary>
[Collection(LimitsServerCollection.Name)]
public sealed class StreamLimitsTests(LimitsServerFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan s_maxDuration = LimitsServerFixture.Options.MaxStreamDuration;

    [DataFact]
    public async Task StreamingRecognize_AudioBeyondMaxDuration_FinalsOfTheHeardAudioThenOutOfRange()
    {
        var audio = StreamCalls.Pcm16(StreamCalls.ReadUtterance());
        var limitsBefore = LimitCount(StreamLimitNames.MaxDuration);

        var outcome = await StreamCalls.RunAsync(fixture.Connection, [StreamCalls.Config(), .. StreamCalls.Chunks(audio)]);
        Log(outcome);

        Assert.Equal(StatusCode.OutOfRange, outcome.Status.StatusCode);
        Assert.Contains("maximum of 4 s of audio", outcome.Status.Detail);
        Assert.NotEmpty(outcome.Finals);
        Assert.NotEmpty(outcome.FinalText);
        Assert.All(outcome.Finals, final => Assert.True(final.ResultEndOffset.ToTimeSpan() <= s_maxDuration, $"a final ends at {final.ResultEndOffset}"));
        Assert.Equal(limitsBefore + 1, LimitCount(StreamLimitNames.MaxDuration));
    }

    [DataFact]
    public async Task StreamingRecognize_AudioStopsWithoutHalfClose_FinalsThenOutOfRangeAudioTimeout()
    {
        var speech = StreamCalls.Pcm16(StreamCalls.ReadUtterance().AsSpan(0, 16_000 * 3));
        var clock = Stopwatch.StartNew();

        var outcome = await StreamCalls.RunAsync(fixture.Connection, [StreamCalls.Config(), .. StreamCalls.Chunks(speech)], halfClose: false);
        Log(outcome);

        Assert.Equal(StatusCode.OutOfRange, outcome.Status.StatusCode);
        Assert.StartsWith("audio timeout", outcome.Status.Detail);
        Assert.NotEmpty(outcome.FinalText);
        Assert.InRange(clock.Elapsed, LimitsServerFixture.Options.StreamIdleTimeout, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task StreamingRecognize_ConfigThenNothing_OutOfRangeAudioTimeoutWithoutResults()
    {
        var outcome = await StreamCalls.RunAsync(fixture.Connection, [StreamCalls.Config()], halfClose: false);

        Assert.Equal(StatusCode.OutOfRange, outcome.Status.StatusCode);
        Assert.StartsWith("audio timeout", outcome.Status.Detail);
        Assert.Empty(outcome.Responses);
    }

    [Fact]
    public async Task StreamingRecognize_RealTimeStreamSendsRecordedAudioAtOnce_FailedPrecondition()
    {
        var audio = new byte[16_000 * 2 * 3];
        var limitsBefore = LimitCount(StreamLimitNames.RealTime);

        var outcome = await StreamCalls.RunAsync(fixture.Connection, [StreamCalls.Config(c => c.RealTime = true), .. StreamCalls.Chunks(audio)]);

        Assert.Equal(StatusCode.FailedPrecondition, outcome.Status.StatusCode);
        Assert.Contains("faster than real time", outcome.Status.Detail);
        Assert.Equal(limitsBefore + 1, LimitCount(StreamLimitNames.RealTime));
    }

    [Fact]
    public async Task StreamingRecognize_RealTimeStreamAtOneAndAHalfTimesRealTime_Ok()
    {
        // 3 s of audio in 100 ms chunks every 67 ms: faster than real time, within the 2x allowed.
        var audio = new byte[16_000 * 2 * 3];

        var outcome = await StreamCalls.RunAsync(
            fixture.Connection, [StreamCalls.Config(c => c.RealTime = true), .. StreamCalls.Chunks(audio)], interval: TimeSpan.FromMilliseconds(67));

        Assert.Equal(StatusCode.OK, outcome.Status.StatusCode);
    }

    [Fact]
    public async Task StreamingRecognize_NotRealTime_RecordedAudioAtOnceIsAccepted()
    {
        var audio = new byte[16_000 * 2 * 3];

        var outcome = await StreamCalls.RunAsync(fixture.Connection, [StreamCalls.Config(), .. StreamCalls.Chunks(audio, 32_000)]);

        Assert.Equal(StatusCode.OK, outcome.Status.StatusCode);
    }

    [Fact]
    public async Task StreamingRecognize_AudioChunkOverTheMessageLimit_ResourceExhaustedAndServerStillServes()
    {
        var oversized = new StreamingRecognizeRequest { AudioContent = ByteString.CopyFrom(new byte[LimitsServerFixture.Options.MaxMessageBytes + 2]) };

        var outcome = await StreamCalls.RunAsync(fixture.Connection, [StreamCalls.Config(), oversized]);
        var next = await StreamCalls.RunAsync(fixture.Connection, [StreamCalls.Config(), .. StreamCalls.Chunks(new byte[32_000])]);

        Assert.Equal(StatusCode.ResourceExhausted, outcome.Status.StatusCode);
        Assert.Equal(StatusCode.OK, next.Status.StatusCode);
    }

    [DataFact]
    public async Task StreamingRecognize_ClientNeverReadsResponses_ServerEndsThatStreamAndOthersFinish()
    {
        // Speech, then silence so that the voice-activity detector closes the segment (short min_silence). The client's
        // zero window lets no response out; Kestrel still takes about 4 KiB of a stream's responses before its writes
        // block, and a long request_id (echoed in every response) fills that with the first few. Then the queue of one
        // fills, and the final result finds no room.
        var samples = StreamCalls.ReadUtterance();
        var speech = StreamCalls.Pcm16(samples.AsSpan(0, 16_000 * 2));
        var silence = new byte[16_000 * 2];
        var config = StreamCalls.Config(c =>
        {
            c.InterimResults = true;
            c.EnableVoiceActivityEvents = true;
            c.Config.RequestId = new string('r', 2_000);
            c.Config.VoiceActivity = new VoiceActivityConfig
            {
                MinSilence = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(300)),
                SpeechPad = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(200)),
            };
        });
        var slowBefore = LimitCount(StreamLimitNames.SlowReader);
        var exhaustedBefore = StreamCount("RESOURCE_EXHAUSTED");

        await using var stalled = await NonReadingHttp2Client.ConnectAsync(fixture.Server.Port);
        await stalled.StartCallAsync(1, "/asr.v1.Asr/StreamingRecognize");
        await stalled.SendMessageAsync(1, config);
        foreach (var chunk in StreamCalls.Chunks([.. speech, .. silence]))
        {
            await stalled.SendMessageAsync(1, chunk);
        }

        // Meanwhile a well-behaved client on its own connection streams the first 3.5 s of the same utterance.
        var wellBehaved = StreamCalls.RunAsync(fixture.Connection, [StreamCalls.Config(), .. StreamCalls.Chunks(StreamCalls.Pcm16(samples.AsSpan(0, 56_000)))]);

        var end = await stalled.WaitForEndAsync(1, TimeSpan.FromSeconds(60));
        var other = await wellBehaved;

        Assert.Equal(Http2StreamEnd.Reset, end);
        await WaitUntilAsync(() => LimitCount(StreamLimitNames.SlowReader) == slowBefore + 1);
        Assert.Equal(exhaustedBefore + 1, StreamCount("RESOURCE_EXHAUSTED"));
        Assert.Equal(StatusCode.OK, other.Status.StatusCode);
        Assert.NotEmpty(other.FinalText);
    }

    [Fact]
    public async Task StreamingRecognize_NoRequestId_ServerMakesOneUpAndReturnsIt()
    {
        var outcome = await StreamCalls.RunAsync(fixture.Connection, [StreamCalls.Config(), .. StreamCalls.Chunks(new byte[3_200])]);

        var callId = outcome.Trailers?.GetValue("asr-call-id");
        Assert.Equal(StatusCode.OK, outcome.Status.StatusCode);
        Assert.Matches("^[0-9a-f]{16}$", callId);
    }

    private double LimitCount(string limit) => fixture.Server.GetMetrics().LimitsHit.WithLabels(limit).Value;

    private double StreamCount(string code) => fixture.Server.GetMetrics().Streams.WithLabels(code).Value;

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(25);
        }

        Assert.True(condition(), "condition not reached within 5 s");
    }

    private void Log(StreamOutcome outcome)
    {
        foreach (var response in outcome.Responses)
        {
            output.WriteLine(response.ToString());
        }

        output.WriteLine($"{outcome.Status.StatusCode}: {outcome.Status.Detail}");
    }
}
