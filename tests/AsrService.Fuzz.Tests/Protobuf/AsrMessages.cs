using AsrService.Fuzz.Tests.Infrastructure;
using AsrService.Grpc.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace AsrService.Fuzz.Tests.Protobuf;

/// <summary>
/// Random asr.v1 requests: mostly the values a real client sends, some at the edges a hostile one would pick
/// (unknown enum values, negative and huge numbers, durations protobuf calls invalid, long and odd strings).
/// </summary>
internal static class AsrMessages
{
    private static readonly string[] s_models = ["", "tiny", "base", "TINY", "tiny-fp32", "../../etc/passwd", "\0", "x"];
    private static readonly string[] s_languages = ["", "en", "en-US", "EN-gb", "de-DE", "e", "\uFFFD", "en\0"];
    private static readonly int[] s_rates = [8_000, 11_025, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000];

    /// <summary>The tags and lengths protobuf parsers treat specially, for <see cref="Mutator"/>.</summary>
    public static IReadOnlyList<byte[]> Tokens { get; } =
    [
        [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F],                   // field 1, length-delimited, length 4 GiB
        [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x07],                   // field 1 (a message), length int.MaxValue
        [0x3A, 0xFE, 0xFF, 0xFF, 0xFF, 0x07],                   // field 7 (voice_activity), length int.MaxValue - 1
        [0x12, 0xF0, 0xFF, 0xFF, 0xFF, 0x07],                   // field 2 (a Duration there), nearly int.MaxValue
        [0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x07],                   // field 2, length 2 GiB - 1
        [0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // a ten-byte varint length
        [0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], // an over-long varint
        [0x0B], [0x0C], [0x13], [0x14],                          // start and end of groups
        [0x0E], [0x0F], [0x00], [0x80, 0x00],                    // wire types 6 and 7, field 0
        [0xF8, 0xFF, 0xFF, 0xFF, 0x0F],                          // field 536870911
        [0x0A, 0x00], [0x12, 0x00],                              // empty sub-message, empty bytes
        [0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], // varint -1
        [0x15, 0x00, 0x00, 0xC0, 0x7F],                          // fixed32 NaN (a float field)
        [0x0A, 0x02, 0x0A, 0x00, 0x0A, 0x02, 0x0A, 0x00],        // nested configs
        Nested(120),                                             // deeper than protobuf's recursion limit
        Groups(120),
    ];

    public static StreamingRecognizeRequest StreamingRequest(Random random) => random.Next(3) switch
    {
        0 => new StreamingRecognizeRequest { StreamingConfig = StreamingConfig(random) },
        1 => new StreamingRecognizeRequest { AudioContent = Audio(random) },
        _ => new StreamingRecognizeRequest(),
    };

    public static RecognizeRequest RecognizeRequest(Random random)
    {
        var request = new RecognizeRequest();
        if (random.Next(8) != 0)
        {
            request.Config = Config(random);
        }

        if (random.Next(8) != 0)
        {
            request.AudioContent = Audio(random);
        }

        return request;
    }

    public static StreamingRecognitionConfig StreamingConfig(Random random)
    {
        var config = new StreamingRecognitionConfig
        {
            InterimResults = random.Next(2) == 0,
            EnableVoiceActivityEvents = random.Next(2) == 0,
        };
        if (random.Next(8) != 0)
        {
            config.Config = Config(random);
        }

        if (random.Next(3) == 0)
        {
            config.InterimInterval = Duration(random, maxSeconds: 12);
        }

        return config;
    }

    public static RecognitionConfig Config(Random random)
    {
        var config = new RecognitionConfig
        {
            Encoding = random.Next(6) == 0 ? (AudioEncoding)(int)Mutator.InterestingInteger(random) : (AudioEncoding)random.Next(6),
            SampleRateHertz = random.Next(5) == 0 ? (int)Mutator.InterestingInteger(random) : s_rates[random.Next(s_rates.Length)],
            AudioChannelCount = random.Next(5) == 0 ? (int)Mutator.InterestingInteger(random) : random.Next(3),
            Model = s_models[random.Next(s_models.Length)],
            LanguageCode = s_languages[random.Next(s_languages.Length)],
            MaxAlternatives = random.Next(5) == 0 ? (int)Mutator.InterestingInteger(random) : random.Next(2),
            RequestId = random.Next(4) == 0 ? Text(random) : string.Empty,
        };
        if (random.Next(3) == 0)
        {
            config.VoiceActivity = VoiceActivity(random);
        }

        int hints = random.Next(4) == 0 ? random.Next(4) : 0;
        for (int i = 0; i < hints; i++)
        {
            config.PhraseHints.Add(new PhraseHint { Phrase = Text(random), Boost = Float(random) });
        }

        return config;
    }

    public static VoiceActivityConfig VoiceActivity(Random random)
    {
        var vad = new VoiceActivityConfig { Threshold = random.Next(2) == 0 ? 0f : Float(random) };
        if (random.Next(2) == 0)
        {
            vad.MinSilence = Duration(random, maxSeconds: 3);
        }

        if (random.Next(2) == 0)
        {
            vad.SpeechPad = Duration(random, maxSeconds: 1);
        }

        if (random.Next(2) == 0)
        {
            vad.MaxSegment = Duration(random, maxSeconds: 40);
        }

        if (random.Next(2) == 0)
        {
            vad.MinSpeech = Duration(random, maxSeconds: 1);
        }

        return vad;
    }

    /// <summary>Mostly a sensible duration; sometimes one protobuf rejects (nanos out of range, mixed signs, beyond 10,000 years).</summary>
    public static Duration Duration(Random random, int maxSeconds) => random.Next(6) switch
    {
        0 => new Duration { Seconds = Mutator.InterestingInteger(random), Nanos = (int)Mutator.InterestingInteger(random) },
        1 => new Duration { Seconds = -random.Next(maxSeconds + 1), Nanos = -random.Next(1_000_000_000) },
        _ => new Duration { Seconds = random.Next(maxSeconds + 1), Nanos = random.Next(1_000_000_000) },
    };

    public static ByteString Audio(Random random)
    {
        var bytes = new byte[random.Next(4) == 0 ? random.Next(2049) : 2 * random.Next(161)];
        random.NextBytes(bytes);
        return ByteString.CopyFrom(bytes);
    }

    public static float Float(Random random) => random.Next(6) switch
    {
        0 => float.NaN,
        1 => random.Next(2) == 0 ? float.PositiveInfinity : float.NegativeInfinity,
        2 => BitConverter.Int32BitsToSingle(random.Next()),
        _ => (float)random.NextDouble(),
    };

    public static string Text(Random random)
    {
        int length = random.Next(4) == 0 ? random.Next(300) : random.Next(12);
        var chars = new char[length];
        for (int i = 0; i < length; i++)
        {
            // Mostly ASCII, some of the rest of the BMP, including lone surrogates (which UTF-8 cannot carry).
            chars[i] = random.Next(8) == 0 ? (char)random.Next(0x10000) : (char)random.Next(0x20, 0x7F);
        }

        return new string(chars);
    }

    private static byte[] Nested(int depth)
    {
        // Field 1 (length-delimited) nested depth times, innermost empty: each level's length covers the rest.
        byte[] inner = [];
        for (int level = 0; level < depth; level++)
        {
            var outer = new List<byte> { 0x0A };
            for (uint length = (uint)inner.Length; ; length >>= 7)
            {
                if (length < 0x80)
                {
                    outer.Add((byte)length);
                    break;
                }

                outer.Add((byte)(length | 0x80));
            }

            outer.AddRange(inner);
            inner = [.. outer];
        }

        return inner;
    }

    private static byte[] Groups(int depth)
    {
        var bytes = new byte[2 * depth];
        bytes.AsSpan(0, depth).Fill(0x1B); // start group, field 3
        bytes.AsSpan(depth).Fill(0x1C);    // end group, field 3
        return bytes;
    }
}
