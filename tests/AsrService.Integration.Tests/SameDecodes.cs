using AsrService.Core.Recognition;
using Xunit.Abstractions;

namespace AsrService.Integration.Tests;

/// <summary>For changes that must not change a single result: two sessions decode the same files alike.</summary>
internal static class SameDecodes
{
    /// <summary>
    /// Decodes each of <paramref name="files"/> with both sessions and asserts the same tokens and bit-identical
    /// confidences, writing one line per file.
    /// </summary>
    public static void Assert(IRecognizerSession expectedSession, IRecognizerSession actualSession, IEnumerable<string> files, ITestOutputHelper output, string label = "")
    {
        foreach (var file in files)
        {
            var samples = TestData.Read(file);
            var expected = expectedSession.Recognize(samples);
            var actual = actualSession.Recognize(samples);
            Xunit.Assert.Equal(expected.TokenIds, actual.TokenIds);
            Xunit.Assert.Equal(expected.Confidence, actual.Confidence);
            output.WriteLine($"{label}{Path.GetFileName(file)}: {actual.TokenIds.Count} tokens, confidence {expected.Confidence:R} / {actual.Confidence:R}");
        }
    }
}
