using AsrService.Core.Pipeline;

namespace AsrService.Core.Tests.Pipeline;

public sealed class RecognitionStreamTests
{
    [Theory]
    [InlineData("", "let us have", 0f)]
    [InlineData("Let's have faith.", "Let's have faith that", 0.75f)]
    [InlineData("let us have faith", "let us have faith", 1f)]
    [InlineData("let them", "let us have faith", 0.25f)]
    [InlineData("anything", "", 0f)]
    public void Stability_PreviousAndCurrentHypotheses_ShareOfUnchangedLeadingWords(string previous, string current, float expected)
    {
        Assert.Equal(expected, RecognitionStream.Stability(previous, current), 3);
    }
}
