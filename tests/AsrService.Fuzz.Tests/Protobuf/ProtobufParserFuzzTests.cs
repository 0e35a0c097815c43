using System.Text;
using AsrService.Fuzz.Tests.Infrastructure;
using AsrService.Grpc.V1;
using Google.Protobuf;
using Xunit.Abstractions;

namespace AsrService.Fuzz.Tests.Protobuf;

/// <summary>
/// The generated asr.v1 request parsers on hostile bytes: whatever arrives, parsing either succeeds or throws
/// <see cref="InvalidProtocolBufferException"/> (which the transport turns into INTERNAL), in bounded memory. Each
/// input is parsed from one array and from a sequence cut into segments, as the server parses a message that spans
/// several socket reads; both must agree, and what parses must serialize back to something that parses the same.
/// </summary>
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
        Assert.True(report.Count("streaming:parsed recognize:parsed") > report.Cases / 10, "too few mutated inputs parse: the fuzzer does not reach the fields");
    }

    /// <summary>Parsing allocates the message and its strings and byte strings, never in proportion to a declared length.</summary>
    private static long ParseBudget(FuzzCase fuzzCase) => 256 * 1024 + 64L * (fuzzCase.Input?.Length ?? 0);

    private static string ParseAsBoth(Random random, byte[] input) =>
        $"streaming:{Parse(random, StreamingRecognizeRequest.Parser, input)} recognize:{Parse(random, RecognizeRequest.Parser, input)}";

    private static string Parse<T>(Random random, MessageParser<T> parser, byte[] input)
        where T : class, IMessage<T>
    {
        T? fromArray = TryParse(() => parser.ParseFrom(input));
        T? fromSegments = TryParse(() => parser.ParseFrom(Segments.Split(random, input)));
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
