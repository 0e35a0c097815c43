using System.Text;

namespace AsrService.Core.Recognition;

/// <summary>
/// Word error rate as LibriSpeech scores it, after the normalisation ../shared/data/README.md states: upper case,
/// punctuation dropped except apostrophes inside words, whitespace collapsed, "Mr." spelt MISTER.
/// </summary>
public static class WordErrorRate
{
    /// <summary>
    /// The references of a LibriSpeech-style transcript file (trans.txt: one <c>ID TEXT</c> per line), by utterance
    /// id; lines without a text are skipped.
    /// </summary>
    public static Dictionary<string, string> ReadReferences(string path) =>
        File.ReadLines(path)
            .Select(line => line.Split(' ', 2))
            .Where(parts => parts.Length == 2)
            .ToDictionary(parts => parts[0], parts => parts[1], StringComparer.Ordinal);

    public static string Normalize(string text)
    {
        var upper = text.ToUpperInvariant().Replace("MR.", "MISTER ", StringComparison.Ordinal).Replace("MRS.", "MISSUS ", StringComparison.Ordinal);
        var builder = new StringBuilder(upper.Length);
        for (var i = 0; i < upper.Length; i++)
        {
            var c = upper[i];
            if (char.IsLetterOrDigit(c))
            {
                builder.Append(c);
            }
            else if ((c == '\'' || c == '\u2019') && i > 0 && i + 1 < upper.Length && char.IsLetter(upper[i - 1]) && char.IsLetter(upper[i + 1]))
            {
                builder.Append('\'');
            }
            else
            {
                builder.Append(' ');
            }
        }

        return string.Join(' ', builder.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>Word-level edit distance between normalised reference and hypothesis, and the reference length.</summary>
    public static (int Errors, int ReferenceWords) Count(string reference, string hypothesis)
    {
        var r = Normalize(reference).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var h = Normalize(hypothesis).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var previous = new int[h.Length + 1];
        var current = new int[h.Length + 1];
        for (var j = 0; j <= h.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= r.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= h.Length; j++)
            {
                var substitution = previous[j - 1] + (r[i - 1] == h[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return (previous[h.Length], r.Length);
    }

    /// <summary>Corpus WER: total errors over total reference words.</summary>
    public static double Compute(IEnumerable<(string Reference, string Hypothesis)> pairs)
    {
        var errors = 0;
        var words = 0;
        foreach (var (reference, hypothesis) in pairs)
        {
            var (e, n) = Count(reference, hypothesis);
            errors += e;
            words += n;
        }

        return words == 0 ? 0 : (double)errors / words;
    }
}
