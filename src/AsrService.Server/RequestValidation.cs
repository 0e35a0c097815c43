using AsrService.Core.Audio;
using AsrService.Core.Pipeline;
using AsrService.Core.Vad;
using AsrService.Grpc;
using AsrService.Grpc.V1;
using Google.Protobuf.WellKnownTypes;

namespace AsrService.Server;

/// <summary>Turns asr.v1 configuration messages into core options, rejecting what we cannot honour with a message
/// that says what to change.</summary>
internal static class RequestValidation
{
    public const int MinSampleRate = 8_000;
    public const int MaxSampleRate = 48_000;

    public static Core.Audio.AudioEncoding StreamEncoding(Grpc.V1.AudioEncoding encoding) => encoding switch
    {
        Grpc.V1.AudioEncoding.Linear16 => Core.Audio.AudioEncoding.Linear16,
        Grpc.V1.AudioEncoding.Float32 => Core.Audio.AudioEncoding.Float32,
        Grpc.V1.AudioEncoding.Mulaw => Core.Audio.AudioEncoding.MuLaw,
        Grpc.V1.AudioEncoding.Alaw => Core.Audio.AudioEncoding.ALaw,
        Grpc.V1.AudioEncoding.EncodedFile => throw Invalid("encoding ENCODED_FILE is only for Recognize; stream LINEAR16, FLOAT32, MULAW or ALAW"),
        Grpc.V1.AudioEncoding.EncodingUnspecified => throw Invalid("config.encoding is required: LINEAR16, FLOAT32, MULAW or ALAW"),
        _ => throw Invalid($"unsupported encoding {(int)encoding}; use LINEAR16, FLOAT32, MULAW or ALAW"),
    };

    public static PcmStreamDecoder PcmDecoder(RecognitionConfig config)
    {
        var encoding = StreamEncoding(config.Encoding);
        if (config.SampleRateHertz is < MinSampleRate or > MaxSampleRate)
        {
            throw Invalid($"config.sample_rate_hertz must be between {MinSampleRate} and {MaxSampleRate}, got {config.SampleRateHertz}");
        }

        var channels = config.AudioChannelCount == 0 ? 1 : config.AudioChannelCount;
        if (channels is < 1 or > 8)
        {
            throw Invalid($"config.audio_channel_count must be between 1 and 8, got {config.AudioChannelCount}");
        }

        return new PcmStreamDecoder(encoding, config.SampleRateHertz, channels);
    }

    public static void CheckModel(RecognitionConfig config, string loadedModel)
    {
        if (config.Model.Length > 0 && !string.Equals(config.Model, loadedModel, StringComparison.OrdinalIgnoreCase))
        {
            throw Invalid($"model '{config.Model}' is not served here; this server runs '{loadedModel}' (see ListModels)");
        }

        if (config.LanguageCode.Length > 0 && !config.LanguageCode.StartsWith("en", StringComparison.OrdinalIgnoreCase))
        {
            throw Invalid($"language_code '{config.LanguageCode}' is not supported; the models are English (en-US)");
        }

        if (config.MaxAlternatives is < 0 or > 1)
        {
            throw Invalid($"max_alternatives must be 0 or 1 (greedy decoding gives one alternative), got {config.MaxAlternatives}");
        }
    }

    public static VadOptions Vad(RecognitionConfig config)
    {
        var vad = new VadOptions();
        if (config.VoiceActivity is { } given)
        {
            if (given.Threshold != 0)
            {
                vad.Threshold = given.Threshold;
            }

            vad.MinSilence = Or(given.MinSilence, vad.MinSilence, "config.voice_activity.min_silence");
            vad.SpeechPad = Or(given.SpeechPad, vad.SpeechPad, "config.voice_activity.speech_pad");
            vad.MaxSegment = Or(given.MaxSegment, vad.MaxSegment, "config.voice_activity.max_segment");
            vad.MinSpeech = Or(given.MinSpeech, vad.MinSpeech, "config.voice_activity.min_speech");
        }

        try
        {
            vad.Validate();
        }
        catch (ArgumentException e)
        {
            throw Invalid($"config.voice_activity: {e.Message}");
        }

        return vad;
    }

    public static StreamingOptions Streaming(StreamingRecognitionConfig streaming)
    {
        var options = new StreamingOptions
        {
            InterimResults = streaming.InterimResults,
            VoiceActivityEvents = streaming.EnableVoiceActivityEvents,
            Vad = Vad(streaming.Config),
        };
        options.InterimInterval = Or(streaming.InterimInterval, options.InterimInterval, "streaming_config.interim_interval");
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw Invalid(e.Message);
        }

        return options;
    }

    public static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    /// <summary>
    /// The duration a client sent, or the default. A Duration that protobuf's own rules forbid (nanos beyond
    /// +-999,999,999 or signed against seconds, seconds beyond +-10,000 years) parses fine but makes
    /// <see cref="Duration.ToTimeSpan"/> throw InvalidOperationException, which the client would see as INTERNAL.
    /// </summary>
    private static TimeSpan Or(Duration? value, TimeSpan fallback, string field)
    {
        if (value is null)
        {
            return fallback;
        }

        bool normalized = value.Seconds is >= Duration.MinSeconds and <= Duration.MaxSeconds
            && value.Nanos is > -Duration.NanosecondsPerSecond and < Duration.NanosecondsPerSecond
            && (value.Seconds == 0 || value.Nanos == 0 || (value.Seconds < 0) == (value.Nanos < 0));
        if (!normalized)
        {
            throw Invalid(
                $"{field} is not a valid duration (seconds {value.Seconds}, nanos {value.Nanos}): nanos must be within " +
                "+-999,999,999 and have the sign of seconds");
        }

        return value.ToTimeSpan();
    }
}
