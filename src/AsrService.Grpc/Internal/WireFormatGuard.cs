using System.Buffers;
using Google.Protobuf.Reflection;

namespace AsrService.Grpc.Internal;

/// <summary>
/// Checks a received message before Google.Protobuf parses it: no length-delimited field may claim more bytes than
/// its enclosing message has left.
/// </summary>
/// <remarks>
/// Google.Protobuf (3.25.1 here, and still 3.34.1) adds a sub-message's length to its position in int arithmetic when
/// it descends into it (protocolbuffers/protobuf#26856). A length near int.MaxValue overflows that sum, the parser's
/// limit goes negative, and from then on it trusts any length: the 13 bytes 0A FF FF FF FF 07 12 80 80 80 80 01 00 as
/// an asr.v1 request make it allocate 256 MiB (up to 2 GiB with another length) before it throws
/// ArgumentOutOfRangeException or IndexOutOfRangeException instead of InvalidProtocolBufferException. The size limit
/// on received messages does not help, since the message itself is tiny.
/// <para>
/// The walk follows the descriptor into exactly the fields the parser reads as sub-messages (known fields of message
/// type sent length-delimited), skips every other field by its length, and stops without objection at anything else
/// malformed, where the parser fails on its own with InvalidProtocolBufferException. It allocates nothing.
/// </para>
/// </remarks>
internal static class WireFormatGuard
{
    // Google.Protobuf's default recursion limit: deeper, the parser refuses the message itself.
    private const int MaxDepth = 100;

    private const int WireTypeVarint = 0;
    private const int WireTypeFixed64 = 1;
    private const int WireTypeLengthDelimited = 2;
    private const int WireTypeStartGroup = 3;
    private const int WireTypeEndGroup = 4;
    private const int WireTypeFixed32 = 5;

    private enum Verdict
    {
        /// <summary>Every length fits (a group: its end tag was reached).</summary>
        Fits,

        /// <summary>A length runs past its enclosing message.</summary>
        Overrun,

        /// <summary>Something else is wrong; the parser will reject it at the same place.</summary>
        Malformed,
    }

    /// <summary>False when some length-delimited field runs past the message or sub-message that holds it.</summary>
    public static bool LengthsFit(ReadOnlySequence<byte> message, MessageDescriptor descriptor)
    {
        var reader = new SequenceReader<byte>(message);
        return Walk(ref reader, message.Length, descriptor, depth: 0, groupField: 0) != Verdict.Overrun;
    }

    /// <summary>
    /// Walks fields up to <paramref name="end"/> (an offset from the start of the message); inside a group, until the
    /// end tag of <paramref name="groupField"/>. A null descriptor means unknown fields, which the parser keeps as
    /// bytes without descending into them.
    /// </summary>
    private static Verdict Walk(ref SequenceReader<byte> reader, long end, MessageDescriptor? descriptor, int depth, int groupField)
    {
        while (reader.Consumed < end)
        {
            if (!TryReadVarint32(ref reader, end, out uint tag))
            {
                return Verdict.Malformed;
            }

            int field = (int)(tag >> 3);
            if (field == 0)
            {
                return Verdict.Malformed;
            }

            switch ((int)(tag & 7))
            {
                case WireTypeVarint:
                    if (!TryReadVarint32(ref reader, end, out _))
                    {
                        return Verdict.Malformed;
                    }

                    break;
                case WireTypeFixed64:
                    if (!TrySkip(ref reader, end, 8))
                    {
                        return Verdict.Malformed;
                    }

                    break;
                case WireTypeFixed32:
                    if (!TrySkip(ref reader, end, 4))
                    {
                        return Verdict.Malformed;
                    }

                    break;
                case WireTypeLengthDelimited:
                {
                    if (!TryReadVarint32(ref reader, end, out uint rawLength) || (int)rawLength < 0)
                    {
                        return Verdict.Malformed;
                    }

                    long length = (int)rawLength;
                    if (length > end - reader.Consumed)
                    {
                        return Verdict.Overrun;
                    }

                    if (descriptor?.FindFieldByNumber(field) is { FieldType: FieldType.Message } subMessage)
                    {
                        if (depth >= MaxDepth)
                        {
                            return Verdict.Malformed;
                        }

                        Verdict inner = Walk(ref reader, reader.Consumed + length, subMessage.MessageType, depth + 1, groupField: 0);
                        if (inner != Verdict.Fits)
                        {
                            return inner;
                        }
                    }
                    else
                    {
                        reader.Advance(length);
                    }

                    break;
                }

                case WireTypeStartGroup:
                {
                    if (depth >= MaxDepth)
                    {
                        return Verdict.Malformed;
                    }

                    Verdict group = Walk(ref reader, end, descriptor: null, depth + 1, field);
                    if (group != Verdict.Fits)
                    {
                        return group;
                    }

                    break;
                }

                case WireTypeEndGroup:
                    return field == groupField ? Verdict.Fits : Verdict.Malformed;
                default:
                    return Verdict.Malformed;
            }
        }

        // A message ends where its length says; a group only at its end tag.
        return groupField == 0 ? Verdict.Fits : Verdict.Malformed;
    }

    /// <summary>
    /// Reads a varint as Google.Protobuf reads tags and lengths: up to ten bytes, of which only the low 32 bits count.
    /// </summary>
    private static bool TryReadVarint32(ref SequenceReader<byte> reader, long end, out uint value)
    {
        value = 0;
        for (int i = 0; i < 10; i++)
        {
            if (reader.Consumed >= end || !reader.TryRead(out byte next))
            {
                return false;
            }

            if (i < 5)
            {
                value |= (uint)(next & 0x7F) << (7 * i);
            }

            if (next < 0x80)
            {
                return true;
            }
        }

        return false;
    }

    private static bool TrySkip(ref SequenceReader<byte> reader, long end, int count)
    {
        if (end - reader.Consumed < count)
        {
            return false;
        }

        reader.Advance(count);
        return true;
    }
}
