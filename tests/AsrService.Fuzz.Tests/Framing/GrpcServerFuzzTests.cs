using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AsrService.Fuzz.Tests.Infrastructure;
using AsrService.Fuzz.Tests.Protobuf;
using AsrService.Grpc;
using AsrService.Grpc.V1;
using Google.Protobuf;
using Xunit.Abstractions;

namespace AsrService.Fuzz.Tests.Framing;

/// <summary>
/// Hostile request bodies sent to a real Kestrel server over one HTTP/2 connection, many streams at once: random
/// and mutated length-prefixed frames, lengths far past the limit, bad compressed flags, garbage gzip and deflate,
/// compression bombs, bodies cut inside a header or a payload, unknown encodings and methods. Every call must end
/// with HTTP 200 and the grpc-status its body calls for, the server must log no handler failure (what an unexpected
/// exception type in the transport would cause), and afterwards ordinary calls must still work.
/// </summary>
public sealed class GrpcServerFuzzTests(ITestOutputHelper output)
{
    private const string RecognizeMethod = "/asr.v1.Asr/Recognize";
    private const string StreamingMethod = "/asr.v1.Asr/StreamingRecognize";
    private const string UnknownMethod = "/asr.v1.Asr/Transcribe";
    private const int Concurrency = 32;

    private static readonly string?[] s_encodingHeaders = [null, null, "identity", "gzip", "deflate", "GZIP", "br"];

    [Fact]
    public async Task Server_HostileRequestBodies_ProperStatusAndKeepsServing()
    {
        string target = $"{nameof(GrpcServerFuzzTests)}.{nameof(Server_HostileRequestBodies_ProperStatusAndKeepsServing)}";
        int seed = FuzzSettings.Seed(0x5EED0202);
        var (first, end) = FuzzRunner.Range(FuzzSettings.Cases);
        var cases = new List<ServerCase>();
        for (int index = first; index < end; index++)
        {
            cases.Add(Prepare(new FuzzCase(seed, index)));
        }

        await using FuzzServerHost host = await FuzzServerHost.StartAsync();
        using HttpClient client = host.CreateClient();
        var outcomes = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var stopwatch = Stopwatch.StartNew();
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (serverCase, cancellationToken) =>
        {
            StatusCode status;
            try
            {
                status = await SendAsync(client, serverCase, cancellationToken);
            }
            catch (Exception exception) when (exception is not FuzzCaseFailedException)
            {
                throw FuzzRunner.Failure(target, serverCase.Case, FuzzRunner.Reason(exception), exception);
            }

            if (!serverCase.Allowed.Contains(status))
            {
                throw FuzzRunner.Failure(
                    target,
                    serverCase.Case,
                    $"{serverCase.Path} ended with {status}; allowed: {string.Join(", ", serverCase.Allowed)}");
            }

            outcomes.AddOrUpdate(status.ToString(), 1, (_, count) => count + 1);
        });
        TimeSpan elapsed = stopwatch.Elapsed;

        // The server still answers ordinary calls, and no handler failed with an exception the transport did not map.
        await RequireServingAsync(client);
        Assert.True(host.Errors.Entries.Count == 0, "the server logged errors:\n" + string.Join("\n", host.Errors.Entries));
        output.WriteLine(
            $"{target}: {cases.Count} calls, seed {seed}, {elapsed.TotalSeconds:F2} s over one connection, {Concurrency} at a time; " +
            string.Join(" ", outcomes.OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => $"{pair.Key}={pair.Value}")));
    }

    /// <summary>Generates one call: method, grpc-encoding, body, how it is cut into writes, and the statuses it may end with.</summary>
    private static ServerCase Prepare(FuzzCase fuzzCase)
    {
        Random random = fuzzCase.Random;
        string path = random.Next(10) switch
        {
            0 => UnknownMethod,
            < 6 => StreamingMethod,
            _ => RecognizeMethod,
        };
        string? encodingHeader = s_encodingHeaders[random.Next(s_encodingHeaders.Length)];
        string? encoding = encodingHeader?.ToLowerInvariant() is "gzip" or "deflate" or "identity" ? encodingHeader.ToLowerInvariant() : null;
        GrpcBody body = path == RecognizeMethod
            ? GrpcFrames.Build(random, encoding, FuzzServerHost.MaxMessageSize, AsrMessages.RecognizeRequest)
            : GrpcFrames.Build(random, encoding, FuzzServerHost.MaxMessageSize);
        bool mutate = random.Next(4) == 0;
        var log = new StringBuilder();
        byte[] bytes = mutate ? Mutator.Mutate(random, body.Bytes, log) : body.Bytes;
        fuzzCase.Description = $"{path}, grpc-encoding header {encodingHeader ?? "(none)"}; {body.Description}{(mutate ? "; mutated: " + log : string.Empty)}";
        fuzzCase.Input = bytes;

        IReadOnlySet<StatusCode> allowed = path == UnknownMethod || encodingHeader == "br"
            ? new HashSet<StatusCode> { StatusCode.Unimplemented }
            : mutate
                ? new HashSet<StatusCode> { StatusCode.OK, StatusCode.Internal, StatusCode.ResourceExhausted }
                : path == RecognizeMethod ? UnaryEndings(body) : StreamingEndings(body);
        return new ServerCase(fuzzCase, path, encodingHeader, bytes, WriteSizes(random, bytes.Length), allowed);
    }

    private static HashSet<StatusCode> StreamingEndings(GrpcBody body) =>
        [.. body.Allowed.Select(code => code ?? StatusCode.OK)];

    /// <summary>A unary call takes exactly one message: a second, or none, is INTERNAL before any ending is reached.</summary>
    private static HashSet<StatusCode> UnaryEndings(GrpcBody body)
    {
        int messages = body.Messages.Count;
        if (messages >= 2)
        {
            return [StatusCode.Internal];
        }

        if (body.Ending == FrameEnding.Clean)
        {
            return [messages == 1 ? StatusCode.OK : StatusCode.Internal];
        }

        if (body.ExtraMessageAllowed)
        {
            // Garbage that parses is the one message (no valid one before it) or a second one.
            return messages == 1
                ? [StatusCode.Internal, StatusCode.ResourceExhausted]
                : [StatusCode.OK, StatusCode.Internal, StatusCode.ResourceExhausted];
        }

        return StreamingEndings(body);
    }

    /// <summary>
    /// Sizes of the writes the body goes out in: mostly all at once, one call in twenty in pieces, each flushed as its
    /// own DATA frame (the in-process test splits bodies at every place; here it is the server's view of a body still
    /// arriving). Each such call the server ends early leaves Kestrel tracking a reset stream for 5 s (see
    /// <see cref="FuzzServerHost"/>), so not more.
    /// </summary>
    private static int[]? WriteSizes(Random random, int length)
    {
        if (random.Next(20) != 0 || length == 0)
        {
            return null;
        }

        var sizes = new List<int>();
        for (int left = length; left > 0;)
        {
            int size = Math.Min(left, 1 + random.Next(random.Next(2) == 0 ? 8 : 4096));
            sizes.Add(size);
            left -= size;
        }

        return [.. sizes];
    }

    private static async Task<StatusCode> SendAsync(HttpClient client, ServerCase serverCase, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, serverCase.Path)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = serverCase.WriteSizes is null ? new ByteArrayContent(serverCase.Body) : new PiecewiseContent(serverCase.Body, serverCase.WriteSizes),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.ParseAdd("trailers");
        if (serverCase.EncodingHeader is not null)
        {
            request.Headers.TryAddWithoutValidation("grpc-encoding", serverCase.EncodingHeader);
        }

        using HttpResponseMessage response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new FuzzPropertyException($"HTTP {(int)response.StatusCode} instead of 200 with a grpc-status");
        }

        byte[] content = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        string? status = Header(response.Headers, "grpc-status") ?? Header(response.TrailingHeaders, "grpc-status");
        if (!int.TryParse(status, NumberStyles.None, CultureInfo.InvariantCulture, out int code))
        {
            throw new FuzzPropertyException($"no valid grpc-status in headers or trailers ('{status}')");
        }

        if (code == 0 && serverCase.Path == RecognizeMethod && CountFrames(content) != 1)
        {
            throw new FuzzPropertyException($"a unary call ended OK with {CountFrames(content)} response messages");
        }

        return (StatusCode)code;
    }

    private static async Task RequireServingAsync(HttpClient client)
    {
        var unary = new RecognizeRequest { Config = new RecognitionConfig { RequestId = "after the fuzz" } };
        using var request = new HttpRequestMessage(HttpMethod.Post, RecognizeMethod)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(GrpcFrames.Frame(unary)),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.ParseAdd("trailers");
        using HttpResponseMessage response = await client.SendAsync(request);
        byte[] content = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal("0", Header(response.TrailingHeaders, "grpc-status"));
        Assert.Equal(1, CountFrames(content));
        Assert.Equal("after the fuzz", RecognizeResponse.Parser.ParseFrom(content.AsSpan(5).ToArray()).RequestId);
    }

    private static int CountFrames(byte[] content)
    {
        int count = 0;
        for (int offset = 0; offset + 5 <= content.Length; count++)
        {
            offset += 5 + (int)BinaryPrimitives.ReadUInt32BigEndian(content.AsSpan(offset + 1));
        }

        return count;
    }

    private static string? Header(HttpHeaders headers, string name) =>
        headers.TryGetValues(name, out IEnumerable<string>? values) ? values.FirstOrDefault() : null;

    private sealed record ServerCase(
        FuzzCase Case,
        string Path,
        string? EncodingHeader,
        byte[] Body,
        int[]? WriteSizes,
        IReadOnlySet<StatusCode> Allowed);

    /// <summary>A request body written in pieces, each flushed, so that it travels in several DATA frames.</summary>
    private sealed class PiecewiseContent(byte[] body, int[] sizes) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            int offset = 0;
            foreach (int size in sizes)
            {
                await stream.WriteAsync(body.AsMemory(offset, size));
                await stream.FlushAsync();
                offset += size;
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = body.Length;
            return true;
        }
    }
}
