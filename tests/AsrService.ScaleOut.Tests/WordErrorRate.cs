using System.Text;

namespace AsrService.ScaleOut.Tests;

/// <summary>
/// Word error rate with ../shared/data's normalisation: upper case, punctuation dropped except apostrophes inside
/// words, whitespace collapsed, "Mr." spelt MISTER.
/// </summary>
internal static class WordErrorRate
{
    public static double Of(string reference, string hypothesis)
    {
        var expected = Normalise(reference);
        var actual = Normalise(hypothesis);
        if (expected.Length == 0)
        {
            return actual.Length == 0 ? 0 : 1;
        }

        // Levenshtein distance over words, one row at a time.
        var previous = new int[actual.Length + 1];
        var current = new int[actual.Length + 1];
        for (var j = 0; j <= actual.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= expected.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= actual.Length; j++)
            {
                var substitution = previous[j - 1] + (expected[i - 1] == actual[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return (double)previous[actual.Length] / expected.Length;
    }

    public static string[] Normalise(string text)
    {
        var builder = new StringBuilder(text.Length);
        var upper = text.ToUpperInvariant();
        for (var i = 0; i < upper.Length; i++)
        {
            var c = upper[i];
            var insideWord = i > 0 && i < upper.Length - 1 && char.IsLetter(upper[i - 1]) && char.IsLetter(upper[i + 1]);
            if (char.IsLetterOrDigit(c) || (c is '\'' or '’' && insideWord))
            {
                builder.Append(c == '’' ? '\'' : c);
            }
            else if (c == '.' && i >= 2 && upper[i - 2] == 'M' && upper[i - 1] == 'R' && (i < 3 || !char.IsLetter(upper[i - 3])))
            {
                builder.Append('.');
            }
            else
            {
                builder.Append(' ');
            }
        }

        return builder.ToString()
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(word => word == "MR." ? "MISTER" : word.TrimEnd('.'))
            .ToArray();
    }
}
