using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Pipelines;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace AsrService.Grpc.Internal;

/// <summary>
/// The gRPC length-prefixed message: 1 byte compressed flag, 4 bytes big-endian length, the (possibly compressed)
/// protobuf bytes. Both sides read through a <see cref="PipeReader"/>, so a message may arrive split across any number
/// of HTTP/2 DATA frames, or several messages in one.
/// </summary>
internal static class MessageFraming
{
    public const int HeaderSize = 5;

    /// <summary>
    /// Reads the next message, or returns null at a clean end of stream. The size limit is checked as soon as the
    /// header is in, before the payload is buffered.
    /// </summary>
    public static async ValueTask<T?> ReadMessageAsync<T>(
        PipeReader reader,
        MessageParser<T> parser,
        string? encoding,
        int? maxMessageSize,
        CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            T? message;
            try
            {
                if (TryReadMessage(ref buffer, parser, encoding, maxMessageSize, out message))
                {
                    reader.AdvanceTo(buffer.Start);
                    return message;
                }
            }
            catch
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                throw;
            }

            if (result.IsCanceled)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                throw new OperationCanceledException("Reading the message stream was cancelled.");
            }

            if (result.IsCompleted)
            {
                reader.AdvanceTo(buffer.End);
                if (buffer.Length == 0)
                {
                    return null;
                }

                throw new RpcException(new Status(StatusCode.Internal, "Incomplete message: the stream ended inside a message."));
            }

            // Nothing consumed, everything examined: the next read waits for more bytes.
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Frames a message into the writer (without flushing).</summary>
    public static void WriteMessage(
        IBufferWriter<byte> writer,
        IMessage message,
        string? encoding,
        CompressionLevel compressionLevel,
        int? maxMessageSize)
    {
        var size = message.CalculateSize();
        if (maxMessageSize is { } limit && size > limit)
        {
            throw new RpcException(new Status(
                StatusCode.ResourceExhausted,
                $"Sending message exceeds the maximum configured message size ({size} > {limit} bytes)."));
        }

        if (!GrpcCompression.IsCompressing(encoding))
        {
            var span = writer.GetSpan(HeaderSize + size);
            span[0] = 0;
            BinaryPrimitives.WriteUInt32BigEndian(span.Slice(1, 4), (uint)size);
            message.WriteTo(span.Slice(HeaderSize, size));
            writer.Advance(HeaderSize + size);
            return;
        }

        var raw = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            message.WriteTo(raw.AsSpan(0, size));
            using var compressed = new MemoryStream();
            GrpcCompression.Compress(encoding!, raw.AsSpan(0, size), compressed, compressionLevel);
            var length = (int)compressed.Length;
            var span = writer.GetSpan(HeaderSize + length);
            span[0] = 1;
            BinaryPrimitives.WriteUInt32BigEndian(span.Slice(1, 4), (uint)length);
            compressed.GetBuffer().AsSpan(0, length).CopyTo(span[HeaderSize..]);
            writer.Advance(HeaderSize + length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    private static bool TryReadMessage<T>(
        ref ReadOnlySequence<byte> buffer,
        MessageParser<T> parser,
        string? encoding,
        int? maxMessageSize,
        out T? message)
        where T : class, IMessage<T>
    {
        message = null;
        if (buffer.Length < HeaderSize)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        var compressed = header[0];
        var length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        if (compressed > 1)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"Invalid compressed flag {compressed} in message header."));
        }

        var limit = (uint)(maxMessageSize ?? int.MaxValue);
        if (length > limit)
        {
            throw new RpcException(new Status(
                StatusCode.ResourceExhausted,
                $"Received message exceeds the maximum configured message size ({length} > {limit} bytes)."));
        }

        if (buffer.Length < HeaderSize + length)
        {
            return false;
        }

        var payload = buffer.Slice(HeaderSize, length);
        if (compressed == 1)
        {
            if (!GrpcCompression.IsCompressing(encoding))
            {
                throw new RpcException(new Status(
                    StatusCode.Internal,
                    "A message is marked compressed but the stream declares no grpc-encoding."));
            }

            message = Parse(parser, new ReadOnlySequence<byte>(GrpcCompression.Decompress(encoding!, payload, maxMessageSize)));
        }
        else
        {
            message = Parse(parser, payload);
        }

        buffer = buffer.Slice(payload.End);
        return true;
    }

    /// <summary>Parses one message; a malformed one is INTERNAL, as the gRPC spec has it for a failed deserialization.</summary>
    private static T Parse<T>(MessageParser<T> parser, ReadOnlySequence<byte> payload)
        where T : class, IMessage<T>
    {
        // Google.Protobuf mishandles a sub-message length near int.MaxValue (see WireFormatGuard): a 13-byte message
        // could make it allocate gigabytes and throw something other than InvalidProtocolBufferException.
        MessageDescriptor descriptor = DescriptorCache<T>.Value ??= parser.ParseFrom(ReadOnlySequence<byte>.Empty).Descriptor;
        if (!WireFormatGuard.LengthsFit(payload, descriptor))
        {
            throw new RpcException(new Status(
                StatusCode.Internal,
                "Failed to deserialize message: a length-delimited field runs past the message that holds it."));
        }

        try
        {
            return parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new RpcException(new Status(StatusCode.Internal, "Failed to deserialize message.", ex));
        }
    }

    /// <summary>The descriptor of each message type, found once from an empty message.</summary>
    private static class DescriptorCache<T>
        where T : class, IMessage<T>
    {
        public static MessageDescriptor? Value { get; set; }
    }
}
