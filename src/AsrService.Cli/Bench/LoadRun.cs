using AsrService.Core.Audio;
using System.Collections.Concurrent;
using System.Diagnostics;
using AsrService.Grpc;
using AsrService.Grpc.Client;
using AsrService.Grpc.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace AsrService.Cli.Bench;

/// <summary>What the bench measures of its own process's memory in a run.</summary>
internal enum MemoryProbe
{
    /// <summary>Nothing: the server is another process.</summary>
    None,

    /// <summary>Resident set and managed heap, sampled four times a second.</summary>
    Sample,

    /// <summary>The samples, and the live managed heap after one forced full collection halfway through.</summary>
    SampleAndLive,
}

/// <summary>Settings of one load run.</summary>
internal sealed record LoadSettings(
    int Streams,
    bool RealTime,
    int ChunkMs,
    bool Interim,
    TimeSpan Duration,
    TimeSpan Gap,
    TimeSpan MinSilence,
    TimeSpan SpeechPad,
    int Seed);

/// <summary>What one load run measured.</summary>
internal sealed class LoadResult
{
    public required LoadSettings Settings { get; init; }

    public double AudioSeconds { get; set; }

    public double WallSeconds { get; set; }

    public LatencySample FinalLatency { get; } = new();

    public LatencySample FirstInterimLatency { get; } = new();

    public LatencySample InterimInterval { get; } = new();

    public ConcurrentDictionary<string, int> Errors { get; } = new();

    /// <summary>The first status message seen for each status code in <see cref="Errors"/>.</summary>
    public ConcurrentDictionary<string, string> FirstErrorMessages { get; } = new();

    /// <summary>Final latencies by the minute of the run they arrived in, to show whether latency drifts in a long run.</summary>
    public LatencySeries FinalLatencyByMinute { get; } = new(TimeSpan.FromMinutes(1));

    /// <summary>Started with the run; the clock of <see cref="FinalLatencyByMinute"/>.</summary>
    public Stopwatch RunClock { get; } = Stopwatch.StartNew();

    public int Finals;

    public int Interims;

    public double ProcessCpuSeconds { get; set; }

    /// <summary>This process's memory during the run; null when it was not sampled (a server given by --server).</summary>
    public MemoryUse? Memory { get; set; }

    public int ErrorCount => Errors.Values.Sum();
}

/// <summary>
/// Runs N StreamingRecognize calls at once over the real transport. Each call streams utterances from the audio
/// set one after another with gaps of silence between them (its own order and gaps, see <see cref="Playlist"/>),
/// paced at real time or as fast as possible, and the latencies are taken against the client's own send clock: a
/// final result's latency is its arrival time minus the time the audio at its segment's end (result_end_offset) was
/// sent; a first interim's latency is measured from the moment the speech onset (speech-begin offset plus the VAD's
/// start padding) was sent.
/// </summary>
internal static class LoadRun
{
    private static readonly TimeSpan StaggerOver = TimeSpan.FromSeconds(1);

    /// <param name="memory">Whether to sample this process's memory (an in-process server), and whether to force one
    /// full collection in the middle of the run to measure the live managed heap.</param>
    public static async Task<LoadResult> RunAsync(
        GrpcClientConnection connection, IReadOnlyList<float[]> utterances, LoadSettings settings, MemoryProbe memory, CancellationToken cancellationToken)
    {
        var result = new LoadResult { Settings = settings };
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var audioSeconds = new double[settings.Streams];

        // Every stream has started after StaggerOver and sends until Duration has passed.
        await using var sampler = memory == MemoryProbe.None ? null : new MemorySampler(StaggerOver, settings.Duration, memory == MemoryProbe.SampleAndLive);
        var tasks = Enumerable.Range(0, settings.Streams)
            .Select(i => Task.Run(() => RunStreamAsync(connection, utterances, settings, i, result, audioSeconds, cancellationToken), cancellationToken))
            .ToArray();
        await Task.WhenAll(tasks).ConfigureAwait(false);
        result.WallSeconds = clock.Elapsed.TotalSeconds;
        if (sampler is not null)
        {
            result.Memory = await sampler.StopAsync().ConfigureAwait(false);
        }

        result.AudioSeconds = audioSeconds.Sum();
        process.Refresh();
        result.ProcessCpuSeconds = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
        return result;
    }

    private static async Task RunStreamAsync(
        GrpcClientConnection connection, IReadOnlyList<float[]> utterances, LoadSettings settings, int index, LoadResult result, double[] audioSeconds, CancellationToken cancellationToken)
    {
        // Stagger starts so that streams do not reach their segment ends in lock step.
        await Task.Delay(StaggerOver * index / settings.Streams, cancellationToken).ConfigureAwait(false);
        var client = new Asr.AsrClient(connection);
        using var call = client.StreamingRecognize(new CallOptions(cancellationToken: cancellationToken));
        var chunkSamples = 16 * settings.ChunkMs;
        var sendTimes = new List<double>(); // client clock (s) at which each chunk finished sending, by chunk index
        var clock = Stopwatch.StartNew();
        var receiving = ReceiveAsync(call, settings, chunkSamples, sendTimes, clock, result, cancellationToken);
        try
        {
            await call.RequestStream.WriteAsync(new StreamingRecognizeRequest
            {
                StreamingConfig = new StreamingRecognitionConfig
                {
                    Config = new RecognitionConfig
                    {
                        Encoding = Grpc.V1.AudioEncoding.Linear16,
                        SampleRateHertz = 16_000,
                        RequestId = $"bench-{index}",
                        VoiceActivity = new VoiceActivityConfig
                        {
                            MinSilence = Duration.FromTimeSpan(settings.MinSilence),
                            SpeechPad = Duration.FromTimeSpan(settings.SpeechPad),
                        },
                    },
                    InterimResults = settings.Interim,
                    EnableVoiceActivityEvents = true,
                },
            }, cancellationToken).ConfigureAwait(false);

            var buffer = new byte[chunkSamples * 2];
            long sent = 0;
            var playlist = new Playlist(utterances.Count, settings.Seed, index);
            var meanGap = (int)(settings.Gap.TotalSeconds * 16_000);
            var silence = new float[meanGap * 3 / 2 + 1];
            while (clock.Elapsed < settings.Duration || sent == 0)
            {
                var utterance = utterances[playlist.Next()];
                var gap = silence.AsMemory(0, playlist.NextGap(meanGap));
                foreach (var part in new[] { utterance.AsMemory(), gap })
                {
                    for (var offset = 0; offset < part.Length; offset += chunkSamples)
                    {
                        var count = Math.Min(chunkSamples, part.Length - offset);
                        RawAudioEncoder.EncodeLinear16(part.Span.Slice(offset, count), buffer);
                        await call.RequestStream.WriteAsync(new StreamingRecognizeRequest { AudioContent = ByteString.CopyFrom(buffer, 0, count * 2) }, cancellationToken).ConfigureAwait(false);
                        sent += count;
                        lock (sendTimes)
                        {
                            // Chunks are whole except at part ends; index the clock by 16 kHz sample position instead.
                            while (sendTimes.Count * chunkSamples < sent)
                            {
                                sendTimes.Add(clock.Elapsed.TotalSeconds);
                            }
                        }

                        if (settings.RealTime)
                        {
                            var wait = sent / 16_000.0 - clock.Elapsed.TotalSeconds;
                            if (wait > 0)
                            {
                                await Task.Delay(TimeSpan.FromSeconds(wait), cancellationToken).ConfigureAwait(false);
                            }
                        }
                    }
                }
            }

            audioSeconds[index] = sent / 16_000.0;
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            await receiving.ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            var code = e.StatusCode.ToString();
            result.Errors.AddOrUpdate(code, 1, (_, n) => n + 1);
            result.FirstErrorMessages.TryAdd(code, e.Status.Detail);
        }
    }

    private static async Task ReceiveAsync(
        AsyncDuplexStreamingCall<StreamingRecognizeRequest, StreamingRecognizeResponse> call,
        LoadSettings settings, int chunkSamples, List<double> sendTimes, Stopwatch clock, LoadResult result, CancellationToken cancellationToken)
    {
        double? onsetSentAt = null;
        double? lastInterimAt = null;
        await Task.Yield();
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            var now = clock.Elapsed.TotalSeconds;
            var response = call.ResponseStream.Current;
            if (response.SpeechEventType == StreamingRecognizeResponse.Types.SpeechEventType.SpeechActivityBegin)
            {
                onsetSentAt = SentAt(response.SpeechEventOffset.ToTimeSpan() + settings.SpeechPad);
                lastInterimAt = null;
            }

            foreach (var item in response.Results)
            {
                if (item.IsFinal)
                {
                    Interlocked.Increment(ref result.Finals);
                    if (SentAt(item.ResultEndOffset.ToTimeSpan()) is { } endSentAt)
                    {
                        result.FinalLatency.Add(now - endSentAt);
                        result.FinalLatencyByMinute.Add(result.RunClock.Elapsed, now - endSentAt);
                    }

                    onsetSentAt = null;
                    lastInterimAt = null;
                    continue;
                }

                Interlocked.Increment(ref result.Interims);
                if (lastInterimAt is null && onsetSentAt is { } onset)
                {
                    result.FirstInterimLatency.Add(now - onset);
                }
                else if (lastInterimAt is { } previous)
                {
                    result.InterimInterval.Add(now - previous);
                }

                lastInterimAt = now;
            }
        }

        double? SentAt(TimeSpan offset)
        {
            var sample = (long)(offset.TotalSeconds * 16_000);
            lock (sendTimes)
            {
                var chunk = (int)Math.Max(0, (sample - 1) / chunkSamples);
                return chunk < sendTimes.Count ? sendTimes[chunk] : null;
            }
        }
    }
}
