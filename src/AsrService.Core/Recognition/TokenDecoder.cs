using System.Text;

namespace AsrService.Core.Recognition;

/// <summary>
/// Turns Moonshine token ids back into text. The vocabulary is SentencePiece with byte fallback: ids 3..258 stand for
/// the bytes 0x00..0xFF (so a character outside the vocabulary is spelled as its UTF-8 bytes), "▁" marks a space,
/// and ids 0..2 and those past the end of the vocabulary (Moonshine's 768 special tokens) never appear in text.
/// </summary>
public sealed class TokenDecoder
{
    public const int BeginOfSequence = 1;
    public const int EndOfSequence = 2;

    private const int FirstByteToken = 3;
    private const int ByteTokenCount = 256;
    private const char WordBoundary = '\u2581';

    private readonly byte[][] _pieceBytes;

    public TokenDecoder(IReadOnlyList<string> pieces)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        _pieceBytes = new byte[pieces.Count][];
        for (var id = 0; id < pieces.Count; id++)
        {
            _pieceBytes[id] = Encoding.UTF8.GetBytes(pieces[id].Replace(WordBoundary, ' '));
        }
    }

    public int VocabularySize => _pieceBytes.Length;

    /// <summary>
    /// Reads the vocabulary from llama-tokenizer-js's llama-tokenizer.js, where it is one base64 string of
    /// newline-separated pieces assigned to <c>llama_vocab_base64</c>.
    /// </summary>
    public static TokenDecoder FromLlamaTokenizerJs(string path)
    {
        const string marker = "llama_vocab_base64 = \"";
        var script = File.ReadAllText(path);
        var start = script.IndexOf(marker, StringComparison.Ordinal);
        var end = start < 0 ? -1 : script.IndexOf('"', start + marker.Length);
        if (end < 0)
        {
            throw new Models.ModelLoadException($"{path} holds no llama_vocab_base64 string; is it llama-tokenizer-js 1.2.2?");
        }

        var text = Encoding.UTF8.GetString(Convert.FromBase64String(script[(start + marker.Length)..end]));
        var pieces = text.Split('\n');
        return new TokenDecoder(pieces);
    }

    /// <summary>True for ids that carry text (not control tokens and not Moonshine's special tokens).</summary>
    public bool IsText(int id) => id >= FirstByteToken && id < _pieceBytes.Length;

    /// <summary>Decodes ids to text: byte tokens are joined into UTF-8, the leading space of the first word is dropped.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        foreach (var id in ids)
        {
            if (!IsText(id))
            {
                continue;
            }

            if (id < FirstByteToken + ByteTokenCount)
            {
                bytes.Add((byte)(id - FirstByteToken));
            }
            else
            {
                bytes.AddRange(_pieceBytes[id]);
            }
        }

        // Invalid byte sequences (a model can emit half a character) become U+FFFD rather than throwing.
        return Encoding.UTF8.GetString(bytes.ToArray()).Trim();
    }
}
