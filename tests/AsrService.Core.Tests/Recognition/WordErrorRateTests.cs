using AsrService.Core.Recognition;

namespace AsrService.Core.Tests.Recognition;

public sealed class WordErrorRateTests
{
    [Theory]
    [InlineData("Hello, world!", "HELLO WORLD")]
    [InlineData("  it's   Mr. Smith's dog. ", "IT'S MISTER SMITH'S DOG")]
    [InlineData("'quoted' words", "QUOTED WORDS")]
    [InlineData("well--then", "WELL THEN")]
    public void Normalize_Text_FollowsLibriSpeechForm(string text, string expected)
    {
        Assert.Equal(expected, WordErrorRate.Normalize(text));
    }

    [Fact]
    public void Count_OneSubstitutionOneDeletionOneInsertion_CountsThree()
    {
        var (errors, words) = WordErrorRate.Count("the cat sat on the mat", "the bat sat on mat today");
        Assert.Equal(3, errors);
        Assert.Equal(6, words);
    }

    [Fact]
    public void Count_IdenticalAfterNormalisation_IsZero()
    {
        Assert.Equal((0, 3), WordErrorRate.Count("HELLO THERE WORLD", "Hello there, world."));
    }

    [Fact]
    public void Compute_SeveralPairs_DividesTotalErrorsByTotalWords()
    {
        var wer = WordErrorRate.Compute([("A B C D", "A B C D"), ("E F", "E G")]);
        Assert.Equal(1.0 / 6, wer, 6);
    }

    [Fact]
    public void Count_EmptyHypothesis_AllDeletions()
    {
        Assert.Equal((4, 4), WordErrorRate.Count("ONE TWO THREE FOUR", string.Empty));
    }

    [Fact]
    public void ReadReferences_TranscriptFile_TextsByIdAndLinesWithoutTextSkipped()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(path, ["1688-142285-0000 THERE'S IRON THEY SAY IN ALL OUR BLOOD", "", "lonely-id", "84-121-0001 A"]);

            var references = WordErrorRate.ReadReferences(path);

            Assert.Equal(2, references.Count);
            Assert.Equal("THERE'S IRON THEY SAY IN ALL OUR BLOOD", references["1688-142285-0000"]);
            Assert.Equal("A", references["84-121-0001"]);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
