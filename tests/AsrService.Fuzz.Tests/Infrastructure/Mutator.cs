using System.Buffers.Binary;
using System.Text;

namespace AsrService.Fuzz.Tests.Infrastructure;

/// <summary>
/// Byte-level mutations of a valid input, in the manner of AFL and libFuzzer: bit flips, interesting integers over
/// length and count fields, inserted, deleted, duplicated and truncated ranges, and tokens a parser treats specially.
/// Each mutation is named in <see cref="Mutate"/>'s log, so a failure message says how the input was made.
/// </summary>
internal static class Mutator
{
    private static readonly long[] s_interestingIntegers =
    [
        0, 1, -1, 2, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 511, 512, 1023, 1024, 4095, 4096, 32767, 32768,
        65535, 65536, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, int.MinValue, long.MaxValue, long.MinValue,
    ];

    /// <summary>
    /// Applies one to <paramref name="maxMutations"/> mutations (fewer more often) and returns the result; appends the
    /// names of what it did to <paramref name="log"/>.
    /// </summary>
    public static byte[] Mutate(
        Random random,
        byte[] input,
        StringBuilder log,
        IReadOnlyList<byte[]>? tokens = null,
        int maxMutations = 8)
    {
        var data = new List<byte>(input);
        int count = 1;
        while (count < maxMutations && random.Next(2) == 0)
        {
            count++;
        }

        for (int i = 0; i < count; i++)
        {
            string name = MutateOnce(random, data, tokens);
            log.Append(i == 0 ? name : "," + name);
        }

        return [.. data];
    }

    /// <summary>Random bytes of a random length up to <paramref name="maxLength"/>, short lengths more often.</summary>
    public static byte[] RandomBytes(Random random, int maxLength)
    {
        int length = random.Next(4) == 0 ? random.Next(maxLength + 1) : random.Next(Math.Min(64, maxLength) + 1);
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    public static long InterestingInteger(Random random) =>
        random.Next(4) == 0 ? random.NextInt64() >> random.Next(64) : s_interestingIntegers[random.Next(s_interestingIntegers.Length)];

    private static string MutateOnce(Random random, List<byte> data, IReadOnlyList<byte[]>? tokens)
    {
        int choice = random.Next(tokens is { Count: > 0 } ? 12 : 11);
        if (data.Count == 0 && choice < 9)
        {
            choice = 9;
        }

        switch (choice)
        {
            case 0:
            {
                int at = random.Next(data.Count);
                data[at] ^= (byte)(1 << random.Next(8));
                return $"flip@{at}";
            }

            case 1:
            {
                int at = random.Next(data.Count);
                data[at] = (byte)random.Next(256);
                return $"byte@{at}";
            }

            case 2:
            case 3:
            {
                // An interesting integer over a 1, 2, 4 or 8-byte field, either byte order: where a length, count,
                // rate or size lives, this is what breaks parsers.
                int width = 1 << random.Next(4);
                int at = random.Next(data.Count);
                Span<byte> bytes = stackalloc byte[8];
                long value = InterestingInteger(random);
                if (random.Next(2) == 0)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
                    bytes = bytes[..width];
                }
                else
                {
                    BinaryPrimitives.WriteInt64BigEndian(bytes, value);
                    bytes = bytes[(8 - width)..];
                }

                for (int i = 0; i < bytes.Length && at + i < data.Count; i++)
                {
                    data[at + i] = bytes[i];
                }

                return $"int{width * 8}({value})@{at}";
            }

            case 4:
            {
                int at = random.Next(data.Count);
                int length = Math.Min(data.Count - at, 1 + random.Next(16));
                data.RemoveRange(at, length);
                return $"delete{length}@{at}";
            }

            case 5:
            {
                int from = random.Next(data.Count);
                int length = Math.Min(data.Count - from, 1 + random.Next(64));
                int to = random.Next(data.Count + 1);
                data.InsertRange(to, data.GetRange(from, length));
                return $"duplicate{length}@{from}->{to}";
            }

            case 6:
            {
                int at = random.Next(data.Count);
                data.RemoveRange(at, data.Count - at);
                return $"truncate@{at}";
            }

            case 7:
            {
                int a = random.Next(data.Count);
                int b = random.Next(data.Count);
                (data[a], data[b]) = (data[b], data[a]);
                return $"swap@{a},{b}";
            }

            case 8:
            {
                int at = random.Next(data.Count);
                int length = Math.Min(data.Count - at, 1 + random.Next(32));
                byte fill = random.Next(3) switch { 0 => 0x00, 1 => 0xFF, _ => (byte)random.Next(256) };
                for (int i = 0; i < length; i++)
                {
                    data[at + i] = fill;
                }

                return $"fill{length}x{fill:X2}@{at}";
            }

            case 9:
            {
                int at = random.Next(data.Count + 1);
                var bytes = new byte[1 + random.Next(32)];
                random.NextBytes(bytes);
                data.InsertRange(at, bytes);
                return $"insert{bytes.Length}@{at}";
            }

            case 10:
            {
                var bytes = new byte[1 + random.Next(64)];
                random.NextBytes(bytes);
                data.AddRange(bytes);
                return $"append{bytes.Length}";
            }

            default:
            {
                byte[] token = tokens![random.Next(tokens.Count)];
                int at = random.Next(data.Count + 1);
                if (random.Next(2) == 0 || at + token.Length > data.Count)
                {
                    data.InsertRange(at, token);
                    return $"token+{Convert.ToHexString(token)}@{at}";
                }

                for (int i = 0; i < token.Length; i++)
                {
                    data[at + i] = token[i];
                }

                return $"token={Convert.ToHexString(token)}@{at}";
            }
        }
    }
}
