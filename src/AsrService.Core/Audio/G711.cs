namespace AsrService.Core.Audio;

/// <summary>
/// G.711 expansion (ITU-T G.711 tables 1a and 2a) to 16-bit linear PCM. Both laws store a sign bit, a 3-bit segment
/// (exponent) and a 4-bit step within the segment; decoding puts the step in the middle of its quantisation interval.
/// Mu-law codes are transmitted inverted; A-law codes have their even bits inverted (XOR 0x55). Decoding goes through
/// 256-entry tables because there are only 256 codes.
/// </summary>
internal static class G711
{
    private const float Scale = 1f / 32768f;

    private static readonly float[] s_muLaw = BuildTable(MuLawToLinear);
    private static readonly float[] s_aLaw = BuildTable(ALawToLinear);

    /// <summary>Mu-law code to float in [-1, 1) on the 16-bit scale (code 0x00 is -32124/32768).</summary>
    public static ReadOnlySpan<float> MuLawTable => s_muLaw;

    /// <summary>A-law code to float in [-1, 1) on the 16-bit scale (code 0xD5 is +8/32768).</summary>
    public static ReadOnlySpan<float> ALawTable => s_aLaw;

    /// <summary>Expands a mu-law code to 14-bit precision on the 16-bit scale, in [-32124, 32124].</summary>
    public static short MuLawToLinear(byte code)
    {
        int u = ~code & 0xFF;
        int exponent = (u >> 4) & 0x07;
        int mantissa = u & 0x0F;

        // The encoder added a bias of 33 (132 on the 16-bit scale) so that every segment starts at a power of two;
        // the decoder adds half a step (the +0x84 carries both) and takes the bias back off.
        int magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
        return (short)((u & 0x80) != 0 ? -magnitude : magnitude);
    }

    /// <summary>Expands an A-law code to 13-bit precision on the 16-bit scale, in [-32256, 32256].</summary>
    public static short ALawToLinear(byte code)
    {
        int a = code ^ 0x55;
        int exponent = (a >> 4) & 0x07;
        int mantissa = a & 0x0F;

        // Segment 0 is linear with the same step as segment 1, so it has no implicit leading one.
        int magnitude = exponent == 0
            ? (mantissa << 4) + 8
            : ((mantissa << 4) + 0x108) << (exponent - 1);

        // In A-law a set sign bit means positive, the opposite of mu-law.
        return (short)((a & 0x80) != 0 ? magnitude : -magnitude);
    }

    private static float[] BuildTable(Func<byte, short> expand)
    {
        var table = new float[256];
        for (int code = 0; code < table.Length; code++)
        {
            table[code] = expand((byte)code) * Scale;
        }

        return table;
    }
}
