using System.Buffers.Binary;
using System.IO.Compression;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace AsrService.Grpc.Tests;

/// <summary>gRPC framing done by hand, to test the server below our own client.</summary>
internal static class RawGrpc
{
    public static byte[] Frame(IMessage message, string? compression = null)
    {
        var payload = message.ToByteArray();
        if (compression is not null)
        {
            using var output = new MemoryStream();
            using (Stream compressor = compression == "gzip"
                ? new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true)
                : new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true))
            {
                compressor.Write(payload);
            }

            payload = output.ToArray();
        }

        var frame = new byte[5 + payload.Length];
        frame[0] = compression is null ? (byte)0 : (byte)1;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame.AsSpan(5));
        return frame;
    }

    public static List<(bool Compressed, byte[] Payload)> ParseFrames(byte[] body)
    {
        var frames = new List<(bool, byte[])>();
        var offset = 0;
        while (offset < body.Length)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(offset + 1));
            frames.Add((body[offset] == 1, body.AsSpan(offset + 5, length).ToArray()));
            offset += 5 + length;
        }

        return frames;
    }

    public static byte[] Gunzip(byte[] data)
    {
        using var input = new GZipStream(new MemoryStream(data), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    public static HttpRequestMessage Request(string method, HttpContent content)
    {
        content.Headers.ContentType ??= new MediaTypeHeaderValue("application/grpc");
        var request = Http2(HttpMethod.Post, method);
        request.Content = content;
        request.Headers.TE.ParseAdd("trailers");
        return request;
    }

    /// <summary>An HTTP/2 request (HttpClient's default request version applies only to its own helper methods).</summary>
    public static HttpRequestMessage Http2(HttpMethod method, string path) => new(method, path)
    {
        Version = System.Net.HttpVersion.Version20,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    public static string? Header(HttpHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}

/// <summary>A request body written in pieces with flushes and pauses between them, so that they travel in separate DATA frames.</summary>
internal sealed class ChunkedContent(IReadOnlyList<byte[]> chunks, TimeSpan pause) : HttpContent
{
    protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
    {
        foreach (var chunk in chunks)
        {
            await stream.WriteAsync(chunk);
            await stream.FlushAsync();
            await Task.Delay(pause);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }
}
