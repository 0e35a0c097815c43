using AsrService.Core.Audio;

namespace AsrService.Core.Tests.Audio;

public sealed class G711Tests
{
    [Theory]
    [InlineData(0xFF, 0)]
    [InlineData(0x7F, 0)]
    [InlineData(0x00, -32124)]
    [InlineData(0x80, 32124)]
    [InlineData(0xFE, 8)]
    [InlineData(0x7E, -8)]
    [InlineData(0xEF, 132)]
    public void MuLawToLinear_KnownCode_ExpectedValue(int code, int expected)
    {
        Assert.Equal(expected, G711.MuLawToLinear((byte)code));
    }

    [Theory]
    [InlineData(0xD5, 8)]
    [InlineData(0x55, -8)]
    [InlineData(0xD4, 24)]
    [InlineData(0xAA, 32256)]
    [InlineData(0x2A, -32256)]
    [InlineData(0xC5, 264)]
    public void ALawToLinear_KnownCode_ExpectedValue(int code, int expected)
    {
        Assert.Equal(expected, G711.ALawToLinear((byte)code));
    }

    [Fact]
    public void MuLawToLinear_SignBitFlipped_NegatesValue()
    {
        for (int code = 0; code < 256; code++)
        {
            Assert.Equal(-G711.MuLawToLinear((byte)code), (int)G711.MuLawToLinear((byte)(code ^ 0x80)));
        }
    }

    [Fact]
    public void ALawToLinear_SignBitFlipped_NegatesValue()
    {
        for (int code = 0; code < 256; code++)
        {
            Assert.Equal(-G711.ALawToLinear((byte)code), (int)G711.ALawToLinear((byte)(code ^ 0x80)));
        }
    }

    [Fact]
    public void MuLawToLinear_InvertedCodesInOrder_StrictlyIncreasingMagnitude()
    {
        // Mu-law sends codes inverted: 0xFF is the smallest positive step, 0x80 the largest.
        for (int code = 0xFF; code > 0x80; code--)
        {
            Assert.True(G711.MuLawToLinear((byte)(code - 1)) > G711.MuLawToLinear((byte)code), $"code {code:X2}");
        }
    }

    [Fact]
    public void ALawToLinear_EvenBitsInvertedCodesInOrder_StrictlyIncreasingMagnitude()
    {
        // After undoing the XOR with 0x55, larger codes within one sign are larger magnitudes.
        for (int step = 0x80; step < 0xFF; step++)
        {
            Assert.True(
                G711.ALawToLinear((byte)((step + 1) ^ 0x55)) > G711.ALawToLinear((byte)(step ^ 0x55)),
                $"step {step:X2}");
        }
    }

    [Fact]
    public void MuLawTable_EveryCode_MatchesLinearOver32768()
    {
        for (int code = 0; code < 256; code++)
        {
            Assert.Equal(G711.MuLawToLinear((byte)code) / 32768f, G711.MuLawTable[code]);
            Assert.Equal(G711.ALawToLinear((byte)code) / 32768f, G711.ALawTable[code]);
        }
    }
}
