using System.Text;
using AsrService.Fuzz.Tests.Infrastructure;
using AsrService.Grpc;
using AsrService.Grpc.Internal;
using AsrService.Grpc.V1;
using Google.Protobuf;
using Xunit.Abstractions;

namespace AsrService.Fuzz.Tests.Framing;

/// <summary>
/// The server's reader of length-prefixed gRPC messages, in process, on request bodies that arrive a few bytes at a
/// time: valid messages (plain and compressed) must come out as they went in, and then the body must end cleanly or
/// with the status its ending calls for (RESOURCE_EXHAUSTED for a length past the limit or a compression bomb,
/// INTERNAL for a bad flag, undecodable compression, a malformed message or a body cut short). Nothing but
/// <see cref="RpcException"/> may escape, and memory must follow the limit, not the length a header declares.
/// </summary>
public sealed class MessageFramingFuzzTests(ITestOutputHelper output)
{
    private static readonly int?[] s_limits = [64 * 1024, 64 * 1024, 1 << 20, GrpcProtocol.DefaultMaxReceiveMessageSize, null];

    [Fact]
    public void ReadMessage_HostileBodies_MessagesThenCleanEndOrStatus()
    {
        FuzzReport report = FuzzRunner.Run(
            0x5EED0201,
            fuzzCase =>
            {
                Random random = fuzzCase.Random;
                string? encoding = GrpcFrames.Encodings[random.Next(GrpcFrames.Encodings.Length)];
                int? limit = s_limits[random.Next(s_limits.Length)];
                GrpcBody body = GrpcFrames.Build(random, encoding, limit);
                bool mutate = random.Next(4) == 0;
                var log = new StringBuilder();
                byte[] bytes = mutate ? Mutator.Mutate(random, body.Bytes, log) : body.Bytes;
                fuzzCase.Description = body.Description + (mutate ? "; mutated: " + log : string.Empty);
                fuzzCase.Input = bytes;
                var reader = new DripPipeReader(Segments.Split(random, bytes), random.Next());

                fuzzCase.BeginSubject();
                var messages = new List<StreamingRecognizeRequest>();
                StatusCode? status = null;
                while (true)
                {
                    try
                    {
                        StreamingRecognizeRequest? message = MessageFraming.ReadMessageAsync(
                            reader, StreamingRecognizeRequest.Parser, encoding, limit, CancellationToken.None).GetAwaiter().GetResult();
                        if (message is null)
                        {
                            break;
                        }

                        messages.Add(message);
                    }
                    catch (RpcException exception)
                    {
                        status = exception.StatusCode;
                        break;
                    }

                    if (messages.Count > bytes.Length / 5 + 1)
                    {
                        throw new FuzzPropertyException($"{messages.Count} messages from {bytes.Length} bytes");
                    }
                }

                if (mutate)
                {
                    RequireAllowed(GrpcFrames.AnyEnding, status);
                }
                else
                {
                    RequireMessages(body, messages);
                    RequireAllowed(body.Allowed, status);
                }

                fuzzCase.Outcome = status?.ToString() ?? "clean end";
            },
            fuzzCase => 512 * 1024 + 16L * (fuzzCase.Input?.Length ?? 0) + 6 * (1 << 20));

        output.WriteLine(report.ToString());
    }

    internal static void RequireMessages(GrpcBody body, IReadOnlyList<StreamingRecognizeRequest> messages)
    {
        int extra = messages.Count - body.Messages.Count;
        if (extra < 0 || extra > (body.ExtraMessageAllowed ? 1 : 0))
        {
            throw new FuzzPropertyException($"read {messages.Count} messages; the body holds {body.Messages.Count} valid ones and then {body.Ending}");
        }

        // Compared as bytes: a generated string with a lone surrogate goes over the wire as U+FFFD.
        for (int i = 0; i < body.Messages.Count; i++)
        {
            if (!messages[i].ToByteArray().AsSpan().SequenceEqual(body.Messages[i].ToByteArray()))
            {
                throw new FuzzPropertyException($"message {i} of {body.Messages.Count} did not come out as it went in");
            }
        }
    }

    internal static void RequireAllowed(IReadOnlySet<StatusCode?> allowed, StatusCode? status)
    {
        if (!allowed.Contains(status))
        {
            throw new FuzzPropertyException(
                $"ended with {status?.ToString() ?? "a clean end"}; allowed: {string.Join(", ", allowed.Select(code => code?.ToString() ?? "clean end"))}");
        }
    }
}
