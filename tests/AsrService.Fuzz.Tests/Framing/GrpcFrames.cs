using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using AsrService.Fuzz.Tests.Infrastructure;
using AsrService.Fuzz.Tests.Protobuf;
using AsrService.Grpc;
using AsrService.Grpc.V1;
using Google.Protobuf;

namespace AsrService.Fuzz.Tests.Framing;

/// <summary>How a generated request body ends, after its valid messages.</summary>
internal enum FrameEnding
{
    /// <summary>Nothing more: a clean end of stream.</summary>
    Clean,

    /// <summary>A length prefix beyond the limit, up to 4 GiB, over a few bytes.</summary>
    Oversized,

    /// <summary>A compressed flag other than 0 or 1.</summary>
    BadFlag,

    /// <summary>Compressed flag 1 on a stream that declares no compressing grpc-encoding.</summary>
    CompressedWithoutEncoding,

    /// <summary>Compressed flag 1 over random bytes, a gzip header and garbage, or a cut-off gzip stream.</summary>
    GarbageCompressed,

    /// <summary>A few hundred bytes that inflate to a megabyte.</summary>
    CompressionBomb,

    /// <summary>An uncompressed payload of random bytes, which may or may not parse.</summary>
    GarbagePayload,

    /// <summary>
    /// A message whose sub-message length is near int.MaxValue, on which Google.Protobuf's limit overflows
    /// (protocolbuffers/protobuf#26856); it must be refused as malformed before it is parsed.
    /// </summary>
    OverflowingLength,

    /// <summary>The stream ends inside a message header.</summary>
    TruncatedPrefix,

    /// <summary>The stream ends inside a message payload.</summary>
    TruncatedPayload,
}

/// <summary>A generated gRPC request body and what reading it must give.</summary>
/// <param name="Messages">The valid messages, in order, that a reader must return before the ending.</param>
/// <param name="Allowed">
/// How reading may end after them: null for a clean end (possibly after one more message, where the ending is
/// garbage that may parse), otherwise a status code.
/// </param>
internal sealed record GrpcBody(
    byte[] Bytes,
    string? Encoding,
    IReadOnlyList<IMessage> Messages,
    FrameEnding Ending,
    IReadOnlySet<StatusCode?> Allowed,
    bool ExtraMessageAllowed,
    string Description);

/// <summary>
/// Request bodies of length-prefixed messages: a few valid asr.v1 streaming requests (compressed when the stream
/// declares gzip or deflate), then one hostile ending, sometimes mutated byte by byte on top.
/// </summary>
internal static class GrpcFrames
{
    public static readonly string?[] Encodings = [null, null, "identity", "gzip", "deflate"];

    private static readonly byte[] s_bomb = Compress("gzip", new byte[1 << 20]);
    private static readonly byte[] s_deflateBomb = Compress("deflate", new byte[1 << 20]);

    /// <summary>A body of asr.v1 streaming requests.</summary>
    public static GrpcBody Build(Random random, string? encoding, int? maxMessageSize) =>
        Build(random, encoding, maxMessageSize, AsrMessages.StreamingRequest);

    /// <summary>A body of the messages <paramref name="newMessage"/> makes (and, in the hostile endings, streaming requests).</summary>
    public static GrpcBody Build(Random random, string? encoding, int? maxMessageSize, Func<Random, IMessage> newMessage)
    {
        bool compressing = encoding is "gzip" or "deflate";
        var body = new List<byte>();
        var messages = new List<IMessage>();
        var description = new StringBuilder($"grpc-encoding {encoding ?? "(none)"}, limit {maxMessageSize?.ToString() ?? "none"}:");
        int count = random.Next(4);
        for (int i = 0; i < count; i++)
        {
            IMessage message = newMessage(random);
            bool compress = compressing && random.Next(3) != 0;
            byte[] payload = message.ToByteArray();
            AppendFrame(body, compress ? (byte)1 : (byte)0, compress ? Compress(encoding!, payload) : payload);
            messages.Add(message);
            description.Append($" message of {payload.Length} bytes{(compress ? " compressed" : string.Empty)};");
        }

        var endings = Enum.GetValues<FrameEnding>();
        FrameEnding ending = random.Next(4) == 0 ? FrameEnding.Clean : endings[random.Next(endings.Length)];
        if (ending == FrameEnding.CompressedWithoutEncoding && compressing)
        {
            ending = FrameEnding.GarbageCompressed;
        }
        else if (ending is FrameEnding.GarbageCompressed or FrameEnding.CompressionBomb && !compressing)
        {
            ending = FrameEnding.CompressedWithoutEncoding;
        }

        uint limit = (uint)(maxMessageSize ?? int.MaxValue);
        HashSet<StatusCode?> allowed = [];
        bool extraMessage = false;
        switch (ending)
        {
            case FrameEnding.Clean:
                allowed.Add(null);
                break;
            case FrameEnding.Oversized:
            {
                uint declared = random.Next(3) switch
                {
                    0 => uint.MaxValue,
                    1 => limit + 1,
                    _ => (uint)random.NextInt64(limit + 1L, uint.MaxValue + 1L),
                };
                byte[] some = new byte[random.Next(100)];
                random.NextBytes(some);
                AppendHeader(body, (byte)(compressing ? random.Next(2) : 0), declared);
                body.AddRange(some);
                allowed.Add(StatusCode.ResourceExhausted);
                description.Append($" a header declaring {declared} bytes over {some.Length}");
                break;
            }

            case FrameEnding.BadFlag:
            {
                byte flag = (byte)random.Next(2, 256);
                byte[] payload = AsrMessages.StreamingRequest(random).ToByteArray();
                AppendFrame(body, flag, payload);
                allowed.Add(StatusCode.Internal);
                description.Append($" compressed flag {flag}");
                break;
            }

            case FrameEnding.CompressedWithoutEncoding:
                AppendFrame(body, 1, Compress("gzip", AsrMessages.StreamingRequest(random).ToByteArray()));
                allowed.Add(StatusCode.Internal);
                description.Append(" a gzip message on a stream without grpc-encoding");
                break;
            case FrameEnding.GarbageCompressed:
            {
                byte[] garbage = GarbageCompressed(random, encoding!, out string what);
                AppendFrame(body, 1, garbage);

                // Garbage may still inflate to something, and that may parse; a deflate stream cut short inflates
                // to what it held.
                allowed.Add(StatusCode.Internal);
                allowed.Add(StatusCode.ResourceExhausted);
                allowed.Add(null);
                extraMessage = true;
                description.Append($" {what}");
                break;
            }

            case FrameEnding.CompressionBomb:
            {
                byte[] bomb = encoding == "gzip" ? s_bomb : s_deflateBomb;
                AppendFrame(body, 1, bomb);
                allowed.Add(maxMessageSize is int max && max < 1 << 20 ? StatusCode.ResourceExhausted : StatusCode.Internal);
                description.Append($" {bomb.Length} bytes that inflate to 1 MiB of zeros");
                break;
            }

            case FrameEnding.GarbagePayload:
            {
                byte[] garbage = Mutator.RandomBytes(random, 512);
                AppendFrame(body, 0, garbage);
                allowed.Add(StatusCode.Internal);
                allowed.Add(null);
                extraMessage = true;
                description.Append($" {garbage.Length} random bytes as a message");
                break;
            }

            case FrameEnding.OverflowingLength:
            {
                // A valid prefix, then field 1 (a sub-message in both request types) claiming int.MaxValue - k bytes,
                // then a length-delimited field claiming up to 256 MiB, as in the input that made the library allocate.
                byte[] prefix = AsrMessages.StreamingRequest(random).ToByteArray();
                byte claimed = (byte)(0xFF - random.Next(16));
                byte[] payload = [.. prefix, 0x0A, claimed, 0xFF, 0xFF, 0xFF, 0x07, 0x12, 0x80, 0x80, 0x80, 0x80, 0x01, .. Mutator.RandomBytes(random, 16)];
                AppendFrame(body, 0, payload);
                allowed.Add(StatusCode.Internal);
                description.Append($" a sub-message length of 0x7FFFFF{claimed:X2} after {prefix.Length} bytes");
                break;
            }

            case FrameEnding.TruncatedPrefix:
            {
                var header = new List<byte>();
                AppendHeader(header, 0, (uint)random.Next(1000));
                int keep = 1 + random.Next(4);
                body.AddRange(header.Take(keep));
                allowed.Add(StatusCode.Internal);
                description.Append($" {keep} bytes of a header");
                break;
            }

            case FrameEnding.TruncatedPayload:
            {
                byte[] payload = AsrMessages.StreamingRequest(random).ToByteArray();
                uint declared = (uint)payload.Length + 1 + (uint)random.Next(100_000);
                AppendHeader(body, 0, declared);
                body.AddRange(payload);
                allowed.Add(declared > limit ? StatusCode.ResourceExhausted : StatusCode.Internal);
                description.Append($" a header declaring {declared} bytes over {payload.Length}");
                break;
            }
        }

        description.Append($" ({ending})");
        return new GrpcBody([.. body], encoding, messages, ending, allowed, extraMessage, description.ToString());
    }

    /// <summary>Any ending a mutated body may reach; which one depends on where the mutation fell.</summary>
    public static IReadOnlySet<StatusCode?> AnyEnding { get; } =
        new HashSet<StatusCode?> { null, StatusCode.Internal, StatusCode.ResourceExhausted };

    public static byte[] Frame(IMessage message)
    {
        var body = new List<byte>();
        AppendFrame(body, 0, message.ToByteArray());
        return [.. body];
    }

    public static byte[] Compress(string encoding, byte[] data)
    {
        using var output = new MemoryStream();
        using (Stream compressor = encoding == "gzip"
            ? new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true)
            : new ZLibStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            compressor.Write(data);
        }

        return output.ToArray();
    }

    private static byte[] GarbageCompressed(Random random, string encoding, out string what)
    {
        byte[] valid = Compress(encoding, AsrMessages.StreamingRequest(random).ToByteArray());
        switch (random.Next(6))
        {
            case 5:
            {
                // Header flags a decoder may not expect: a zlib preset dictionary (FDICT), or gzip's optional fields.
                byte[] rest = Mutator.RandomBytes(random, 64);
                byte[] header = encoding == "gzip"
                    ? [0x1F, 0x8B, 0x08, (byte)random.Next(256), 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF]
                    : [0x78, 0xBB, (byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)];
                what = $"a {encoding} header with flags 0x{header[encoding == "gzip" ? 3 : 1]:X2} and {rest.Length} random bytes";
                return [.. header, .. rest];
            }

            case 0:
                what = "random bytes marked compressed";
                return Mutator.RandomBytes(random, 512);
            case 1:
            {
                // A valid gzip or zlib header followed by garbage.
                byte[] garbage = Mutator.RandomBytes(random, 256);
                byte[] header = encoding == "gzip" ? [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF] : [0x78, 0x01];
                what = $"a {encoding} header and {garbage.Length} random bytes";
                return [.. header, .. garbage];
            }

            case 2:
                what = $"a {encoding} stream cut short";
                return valid[..random.Next(valid.Length)];
            case 3:
                what = $"the other format than {encoding}";
                return Compress(encoding == "gzip" ? "deflate" : "gzip", AsrMessages.StreamingRequest(random).ToByteArray());
            default:
            {
                var log = new StringBuilder();
                byte[] mutated = Mutator.Mutate(random, valid, log);
                what = $"a {encoding} stream mutated: {log}";
                return mutated;
            }
        }
    }

    private static void AppendFrame(List<byte> body, byte flag, byte[] payload)
    {
        AppendHeader(body, flag, (uint)payload.Length);
        body.AddRange(payload);
    }

    private static void AppendHeader(List<byte> body, byte flag, uint length)
    {
        Span<byte> header = stackalloc byte[5];
        header[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(header[1..], length);
        body.AddRange(header);
    }
}
