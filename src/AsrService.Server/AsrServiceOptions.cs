using System.Net;
using AsrService.Core.Pipeline;

namespace AsrService.Server;

/// <summary>
/// Limits and operations settings of the recognition service. Bound from the "Asr" configuration section (see
/// <see cref="AsrServiceConfiguration"/>) and from <c>asr serve</c> flags; validated before the server starts.
/// </summary>
public sealed class AsrServiceOptions
{
    /// <summary>Streams decoded at once; a call beyond it gets RESOURCE_EXHAUSTED rather than slowing every stream.</summary>
    public int MaxConcurrentStreams { get; set; } = 64;

    /// <summary>
    /// Decodes run at once across all calls; further finals wait in order and further interims are skipped. Zero
    /// means one per core divided by the recognizer's threads per run.
    /// </summary>
    public int ConcurrentDecodes { get; set; }

    /// <summary>
    /// Most finals one decode slot decodes together, with their decoder steps batched across streams
    /// (<see cref="DecodeScheduler"/>); 1 decodes each final alone. Results are the same either way.
    /// </summary>
    public int FinalsPerDecode { get; set; } = 1;

    /// <summary>
    /// How long a final that finds every decode slot busy waits before it stops a running interim decode (its update
    /// is dropped and the stream's next one comes an interval later); zero: at once; null: never
    /// (<see cref="DecodeScheduler.PreemptInterimsAfter"/>).
    /// </summary>
    public TimeSpan? PreemptInterimsAfter { get; set; } = DecodeScheduler.DefaultPreemptInterimsAfter;

    /// <summary>
    /// Decode each streaming final while its segment's closing silence runs, as soon as the segment's audio is complete,
    /// rather than once the VAD has heard all of MinSilence (<see cref="StreamingOptions.EarlyFinals"/>). Same results,
    /// sooner; a decode is spent for nothing when speech resumes in the last part of the silence.
    /// </summary>
    public bool EarlyFinals { get; set; } = true;

    /// <summary>Longest audio one Recognize call may carry.</summary>
    public TimeSpan MaxRecognizeAudio { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Largest request message (bytes, after decompression); larger ones end the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxMessageBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// Most audio one stream may carry. A stream that reaches it gets the final results of what was heard, then ends
    /// with OUT_OF_RANGE; the client opens a new stream to go on. Long enough for calls and meetings; raise it for
    /// all-day captioning.
    /// </summary>
    public TimeSpan MaxStreamDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How long a stream may go without audio (the config message included) before it ends: final results of what was
    /// heard, then OUT_OF_RANGE "audio timeout", as Google Cloud Speech does. Live clients send silence too, so a gap
    /// this long means a stuck or forgotten client holding a stream slot.
    /// </summary>
    public TimeSpan StreamIdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// For streams that set <c>real_time</c>: how many seconds of audio per second of wall time the pacing bucket
    /// refills with. Audio beyond the bucket ends the call with FAILED_PRECONDITION.
    /// </summary>
    public double RealTimeMaxRate { get; set; } = 2.0;

    /// <summary>
    /// For streams that set <c>real_time</c>: the pacing bucket's size, i.e. how much audio may arrive at once (a
    /// client catching up after a network stall).
    /// </summary>
    public TimeSpan RealTimeBurst { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Responses a stream may have waiting for a client that reads slowly. When it is full the newest interim result
    /// replaces queued ones; a final result or event waits up to <see cref="SlowReaderTimeout"/> for room.
    /// </summary>
    public int ResponseQueueCapacity { get; set; } = 32;

    /// <summary>
    /// How long a final result or event waits for room in a full response queue (or the queue takes to drain at the
    /// end) before the call fails with RESOURCE_EXHAUSTED "client is not reading responses".
    /// </summary>
    public TimeSpan SlowReaderTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// On shutdown, how long open calls may go on (streams half-close and get their final results) before streams are
    /// finalised and ended with UNAVAILABLE. Health turns NOT_SERVING and new calls get UNAVAILABLE for its duration.
    /// </summary>
    public TimeSpan ShutdownGracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// API keys accepted in <c>authorization: Bearer KEY</c> or <c>x-api-key: KEY</c>. None (and no
    /// <see cref="ApiKeysFile"/>) means no authentication.
    /// </summary>
    public List<ApiKeyOptions> ApiKeys { get; set; } = [];

    /// <summary>A file of API keys, one <c>KEY[:model1,model2]</c> per line; blank lines and <c># comments</c> are skipped.</summary>
    public string? ApiKeysFile { get; set; }

    /// <summary>Port of the Prometheus endpoint (HTTP/1.1, path /metrics); null for none, 0 for a free one.</summary>
    public int? MetricsPort { get; set; }

    /// <summary>Address the metrics endpoint binds (IP address, "localhost" or "*"); null means the gRPC endpoint's host.</summary>
    public string? MetricsHost { get; set; }

    /// <summary>
    /// Whether final transcripts are logged (at Information, with the call id). Off by default: transcripts are the
    /// users' data, and logs travel further than responses.
    /// </summary>
    public bool LogTranscripts { get; set; }

    public void Validate()
    {
        var problems = new List<string>();
        if (MaxConcurrentStreams < 1)
        {
            problems.Add($"MaxConcurrentStreams must be at least 1, got {MaxConcurrentStreams}");
        }

        if (ConcurrentDecodes < 0)
        {
            problems.Add($"ConcurrentDecodes must be 0 (automatic) or more, got {ConcurrentDecodes}");
        }

        if (FinalsPerDecode is < 1 or > DecodeScheduler.MaxFinalsPerDecode)
        {
            problems.Add($"FinalsPerDecode must be between 1 and {DecodeScheduler.MaxFinalsPerDecode}, got {FinalsPerDecode}");
        }

        if (PreemptInterimsAfter < TimeSpan.Zero)
        {
            problems.Add($"PreemptInterimsAfter must be zero or more (or unset: never), got {PreemptInterimsAfter}");
        }

        Positive(MaxRecognizeAudio, nameof(MaxRecognizeAudio));
        Positive(MaxStreamDuration, nameof(MaxStreamDuration));
        Positive(StreamIdleTimeout, nameof(StreamIdleTimeout));
        Positive(SlowReaderTimeout, nameof(SlowReaderTimeout));
        if (MaxMessageBytes < 1024)
        {
            problems.Add($"MaxMessageBytes must be at least 1024, got {MaxMessageBytes}");
        }

        if (!(RealTimeMaxRate >= 1.0) || double.IsInfinity(RealTimeMaxRate))
        {
            problems.Add($"RealTimeMaxRate must be a finite number of at least 1 (real time), got {RealTimeMaxRate}");
        }

        // Zero would refuse even the first chunk of a live stream, which arrives a moment after the config.
        Positive(RealTimeBurst, nameof(RealTimeBurst));

        if (ResponseQueueCapacity < 1)
        {
            problems.Add($"ResponseQueueCapacity must be at least 1, got {ResponseQueueCapacity}");
        }

        if (ShutdownGracePeriod < TimeSpan.Zero)
        {
            problems.Add("ShutdownGracePeriod must not be negative");
        }

        if (MetricsPort is < 0 or > 65535)
        {
            problems.Add($"MetricsPort {MetricsPort} is outside 0-65535");
        }

        if (MetricsHost is { } host && host is not ("localhost" or "*" or "+") && !IPAddress.TryParse(host, out _))
        {
            problems.Add($"MetricsHost '{host}' is not an IP address, 'localhost' or '*'");
        }

        for (var i = 0; i < ApiKeys.Count; i++)
        {
            if (ApiKeys[i].Problem() is { } problem)
            {
                // The key itself is never part of a message: messages end up in logs.
                problems.Add($"ApiKeys[{i}] ({ApiKeys[i].DisplayName(i)}): {problem}");
            }
        }

        if (ApiKeysFile is not null)
        {
            try
            {
                ApiKeyOptions.ReadFile(ApiKeysFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                problems.Add($"ApiKeysFile: {e.Message}");
            }
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid server options: " + string.Join("; ", problems));
        }

        void Positive(TimeSpan value, string name)
        {
            if (value <= TimeSpan.Zero)
            {
                problems.Add($"{name} must be positive, got {value}");
            }
        }
    }
}
