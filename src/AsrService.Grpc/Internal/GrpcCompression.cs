using System.Buffers;
using System.IO.Compression;

namespace AsrService.Grpc.Internal;

/// <summary>
/// Per-message compression as gRPC does it: each message is compressed on its own with the algorithm named in
/// <c>grpc-encoding</c>. "deflate" means the zlib format, as in HTTP.
/// </summary>
internal static class GrpcCompression
{
    public static bool IsSupported(string? encoding) =>
        encoding is null
        || encoding.Equals(GrpcProtocol.IdentityEncoding, StringComparison.OrdinalIgnoreCase)
        || encoding.Equals(GrpcProtocol.GzipEncoding, StringComparison.OrdinalIgnoreCase)
        || encoding.Equals(GrpcProtocol.DeflateEncoding, StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the encoding actually compresses (identity and none do not).</summary>
    public static bool IsCompressing(string? encoding) =>
        encoding is not null && !encoding.Equals(GrpcProtocol.IdentityEncoding, StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether a peer's grpc-accept-encoding list names an encoding.</summary>
    public static bool IsAccepted(string? acceptEncoding, string encoding)
    {
        if (string.IsNullOrEmpty(acceptEncoding))
        {
            return false;
        }

        foreach (var range in acceptEncoding.AsSpan().Split(','))
        {
            if (acceptEncoding.AsSpan()[range].Trim().Equals(encoding, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    public static void Compress(string encoding, ReadOnlySpan<byte> data, Stream destination, CompressionLevel level)
    {
        using var compressor = CreateStream(encoding, destination, CompressionMode.Compress, level);
        compressor.Write(data);
    }

    /// <summary>
    /// Decompresses one message. Throws <see cref="RpcException"/> with RESOURCE_EXHAUSTED as soon as the output
    /// passes the limit, so that a small "zip bomb" cannot make us allocate gigabytes.
    /// </summary>
    public static byte[] Decompress(string encoding, ReadOnlySequence<byte> data, int? maxSize)
    {
        var input = new MemoryStream(data.ToArray(), writable: false);
        using var decompressor = CreateStream(encoding, input, CompressionMode.Decompress, CompressionLevel.Optimal);
        var output = new MemoryStream();
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = decompressor.Read(buffer, 0, buffer.Length)) > 0)
            {
                if (maxSize is { } limit && output.Length + read > limit)
                {
                    throw new RpcException(new Status(
                        StatusCode.ResourceExhausted,
                        "Received message exceeds the maximum configured message size."));
                }

                output.Write(buffer, 0, read);
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException)
        {
            // Corrupt data is InvalidDataException, but some zlib errors surface as ZLibException, an IOException: a
            // zlib header asking for a preset dictionary (78 BB ...) makes zlib answer Z_NEED_DICT. The input is a
            // MemoryStream, so an IOException can only come from the decompressor.
            throw new RpcException(new Status(StatusCode.Internal, $"Failed to decompress message with '{encoding}'.", ex));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return output.ToArray();
    }

    private static Stream CreateStream(string encoding, Stream inner, CompressionMode mode, CompressionLevel level)
    {
        if (encoding.Equals(GrpcProtocol.GzipEncoding, StringComparison.OrdinalIgnoreCase))
        {
            return mode == CompressionMode.Compress
                ? new GZipStream(inner, level, leaveOpen: true)
                : new GZipStream(inner, CompressionMode.Decompress, leaveOpen: true);
        }

        if (encoding.Equals(GrpcProtocol.DeflateEncoding, StringComparison.OrdinalIgnoreCase))
        {
            return mode == CompressionMode.Compress
                ? new ZLibStream(inner, level, leaveOpen: true)
                : new ZLibStream(inner, CompressionMode.Decompress, leaveOpen: true);
        }

        throw new RpcException(new Status(StatusCode.Unimplemented, $"Unsupported grpc-encoding '{encoding}'."));
    }
}
