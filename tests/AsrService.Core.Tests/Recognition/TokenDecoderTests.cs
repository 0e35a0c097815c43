using AsrService.Core.Recognition;

namespace AsrService.Core.Tests.Recognition;

public sealed class TokenDecoderTests
{
    // A small vocabulary laid out like SentencePiece's: 3 control pieces, 256 byte pieces, then words.
    private static readonly TokenDecoder s_decoder = new(BuildPieces("▁hello", "▁world", "s", "▁caf", ","));

    private const int Hello = 259;
    private const int World = 260;
    private const int S = 261;
    private const int Caf = 262;
    private const int Comma = 263;

    [Fact]
    public void Decode_WordPieces_JoinsWithSpacesAndTrimsLeadingSpace()
    {
        Assert.Equal("hello worlds", s_decoder.Decode([Hello, World, S]));
    }

    [Fact]
    public void Decode_ByteFallbackTokens_AssemblesUtf8()
    {
        // "é" is C3 A9 in UTF-8; byte tokens are 3 + byte value.
        Assert.Equal("café,", s_decoder.Decode([Caf, 3 + 0xC3, 3 + 0xA9, Comma]));
    }

    [Fact]
    public void Decode_ControlAndSpecialTokens_AreSkipped()
    {
        Assert.Equal("hello world", s_decoder.Decode([TokenDecoder.BeginOfSequence, Hello, 0, World, TokenDecoder.EndOfSequence, 32_500]));
    }

    [Fact]
    public void Decode_TruncatedUtf8Sequence_GivesReplacementCharacterInsteadOfThrowing()
    {
        Assert.Equal("hello \uFFFD", s_decoder.Decode([Hello, 3 + ' ', 3 + 0xC3]));
    }

    [Fact]
    public void IsText_IdsOutsideVocabulary_AreNotText()
    {
        Assert.False(s_decoder.IsText(TokenDecoder.EndOfSequence));
        Assert.True(s_decoder.IsText(3));
        Assert.True(s_decoder.IsText(Comma));
        Assert.False(s_decoder.IsText(Comma + 1));
    }

    [Fact]
    public void FromLlamaTokenizerJs_FileWithoutVocabulary_ThrowsModelLoadException()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "const something = 1;");
            Assert.Throws<AsrService.Core.Models.ModelLoadException>(() => TokenDecoder.FromLlamaTokenizerJs(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static List<string> BuildPieces(params string[] words)
    {
        var pieces = new List<string> { "<unk>", "<s>", "</s>" };
        for (var b = 0; b < 256; b++)
        {
            pieces.Add($"<0x{b:X2}>");
        }

        pieces.AddRange(words);
        return pieces;
    }
}
