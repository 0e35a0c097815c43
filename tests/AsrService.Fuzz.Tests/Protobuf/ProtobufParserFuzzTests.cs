using System.Buffers;
using System.Text;
using AsrService.Fuzz.Tests.Infrastructure;
using AsrService.Grpc.Internal;
using AsrService.Grpc.V1;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Xunit.Abstractions;

namespace AsrService.Fuzz.Tests.Protobuf;

/// <summary>
/// The generated asr.v1 request parsers on hostile bytes: whatever arrives, parsing either succeeds or throws
/// <see cref="InvalidProtocolBufferException"/> (which the transport turns into INTERNAL), in bounded memory. Each
/// input is parsed from one array and from a sequence cut into segments, as the server parses a message that spans
/// several socket reads; both must agree, and what parses must serialize back to something that parses the same.
/// </summary>
/// <remarks>
/// Google.Protobuf alone fails that for a sub-message length near int.MaxValue (protocolbuffers/protobuf#26856): it
/// allocates what a later length says and throws IndexOutOfRangeException or ArgumentOutOfRangeException. The server
/// therefore runs <see cref="WireFormatGuard"/> first, and "our parser" here is the two together: the guard must
/// reject exactly inputs the library cannot parse, and what it lets through must parse or throw
/// InvalidProtocolBufferException.
/// </remarks>
public sealed class ProtobufParserFuzzTests(ITestOutputHelper output)
{
    [Fact]
    public void ParseFrom_RandomBytes_ParsesOrThrowsInvalidProtocolBuffer()
    {
        FuzzReport report = FuzzRunner.Run(
            0x5EED0101,
            fuzzCase =>
            {
                Random random = fuzzCase.Random;
                bool soup = random.Next(2) == 0;
                byte[] input = soup ? TokenSoup(random) : Mutator.RandomBytes(random, 4096);
                fuzzCase.Description = soup ? "protobuf tokens and random bytes" : "random bytes";
                fuzzCase.Input = input;
                fuzzCase.BeginSubject();
                fuzzCase.Outcome = ParseAsBoth(random, input);
            },
            ParseBudget);

        output.WriteLine(report.ToString());
    }

    [Fact]
    public void ParseFrom_MutatedValidRequests_ParsesOrThrowsInvalidProtocolBuffer()
    {
        FuzzReport report = FuzzRunner.Run(
            0x5EED0102,
            fuzzCase =>
            {
                Random random = fuzzCase.Random;
                IMessage original = random.Next(2) == 0
                    ? AsrMessages.StreamingRequest(random)
                    : AsrMessages.RecognizeRequest(random);
                byte[] valid = original.ToByteArray();
                var log = new StringBuilder();
                bool mutate = random.Next(10) != 0;
                byte[] input = mutate ? Mutator.Mutate(random, valid, log, AsrMessages.Tokens) : valid;
                fuzzCase.Description = $"{original.Descriptor.Name} {(mutate ? "mutated: " + log : "unchanged")}";
                fuzzCase.Input = input;
                fuzzCase.BeginSubject();
                string outcome = ParseAsBoth(random, input);
                if (!mutate)
                {
                    // Unchanged bytes are a valid message of their own type: they must parse back to the same bytes.
                    IMessage parsed = original.Descriptor.Parser.ParseFrom(input);
                    Assert.Equal(valid, parsed.ToByteArray());
                }

                fuzzCase.Outcome = outcome;
            },
            ParseBudget);

        output.WriteLine(report.ToString());
        report.RequireReach(0.1, "parsed as both request types", "streaming:parsed recognize:parsed");
    }

    /// <summary>Parsing allocates the message and its strings and byte strings, never in proportion to a declared length.</summary>
    private static long ParseBudget(FuzzCase fuzzCase) => 256 * 1024 + 64L * (fuzzCase.Input?.Length ?? 0);

    private static string ParseAsBoth(Random random, byte[] input) =>
        $"streaming:{Parse(random, StreamingRecognizeRequest.Parser, input)} recognize:{Parse(random, RecognizeRequest.Parser, input)}";

    private static string Parse<T>(Random random, MessageParser<T> parser, byte[] input)
        where T : class, IMessage<T>
    {
        MessageDescriptor descriptor = parser.ParseFrom(ReadOnlySequence<byte>.Empty).Descriptor;
        ReadOnlySequence<byte> segments = Segments.Split(random, input);
        bool fits = WireFormatGuard.LengthsFit(new ReadOnlySequence<byte>(input), descriptor);
        Assert.True(fits == WireFormatGuard.LengthsFit(segments, descriptor), $"{typeof(T).Name}: the guard judges one array and segments differently");
        if (!fits)
        {
            RequireLibraryRejects(parser, input);
            return "overrun";
        }

        T? fromArray = TryParse(() => parser.ParseFrom(input));
        T? fromSegments = TryParse(() => parser.ParseFrom(segments));
        if (fromArray is null || fromSegments is null)
        {
            Assert.True(
                fromArray is null && fromSegments is null,
                $"{typeof(T).Name}: parsing one array {(fromArray is null ? "failed" : "succeeded")} but parsing segments {(fromSegments is null ? "failed" : "succeeded")}");
            return "invalid";
        }

        Assert.Equal(fromArray, fromSegments);
        byte[] serialized = fromArray.ToByteArray();
        Assert.Equal(fromArray.CalculateSize(), serialized.Length);
        Assert.Equal(fromArray, parser.ParseFrom(serialized));
        return "parsed";
    }

    private static T? TryParse<T>(Func<T> parse)
        where T : class, IMessage<T>
    {
        try
        {
            return parse();
        }
        catch (InvalidProtocolBufferException)
        {
            return default;
        }
    }

    /// <summary>
    /// What the guard rejects, the library must not parse either (it would fail some other way). Checked only where no
    /// length reaches 2^28: past that the library may allocate what the length says before it fails.
    /// </summary>
    private static void RequireLibraryRejects<T>(MessageParser<T> parser, byte[] input)
        where T : class, IMessage<T>
    {
        for (int i = 0; i + 3 < input.Length; i++)
        {
            if (input[i] >= 0x80 && input[i + 1] >= 0x80 && input[i + 2] >= 0x80 && input[i + 3] >= 0x80)
            {
                return;
            }
        }

        try
        {
            parser.ParseFrom(input);
        }
        catch (Exception)
        {
            return;
        }

        throw new FuzzPropertyException($"the guard rejected a {typeof(T).Name} that the library parses");
    }

    /// <summary>Tags, lengths and groups from <see cref="AsrMessages.Tokens"/> mixed with random bytes and valid fields.</summary>
    private static byte[] TokenSoup(Random random)
    {
        var bytes = new List<byte>();
        int pieces = 1 + random.Next(12);
        for (int i = 0; i < pieces; i++)
        {
            switch (random.Next(3))
            {
                case 0:
                    bytes.AddRange(AsrMessages.Tokens[random.Next(AsrMessages.Tokens.Count)]);
                    break;
                case 1:
                    bytes.AddRange(Mutator.RandomBytes(random, 64));
                    break;
                default:
                    bytes.AddRange(AsrMessages.StreamingRequest(random).ToByteArray());
                    break;
            }
        }

        return [.. bytes];
    }
}
