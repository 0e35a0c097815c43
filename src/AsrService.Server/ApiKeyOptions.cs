namespace AsrService.Server;

/// <summary>One API key a client may present, optionally restricted to some models.</summary>
public sealed class ApiKeyOptions
{
    /// <summary>Shortest key accepted: shorter ones are guessable.</summary>
    public const int MinKeyLength = 16;

    /// <summary>The secret itself: visible ASCII without spaces or ':', at least <see cref="MinKeyLength"/> characters.</summary>
    public string Key { get; set; } = string.Empty;

    /// <summary>Models this key may use; empty means every model.</summary>
    public List<string> Models { get; set; } = [];

    /// <summary>
    /// A name for the key in logs (e.g. the customer it was issued to); the key itself is never logged. Null gives
    /// "key #N" by position.
    /// </summary>
    public string? Name { get; set; }

    /// <summary>
    /// Parses the command-line and key-file form <c>KEY[:model1,model2]</c>. Throws <see cref="FormatException"/>
    /// with a message that never contains the key.
    /// </summary>
    public static ApiKeyOptions Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var text = spec.Trim();
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var key = colon < 0 ? text : text[..colon];
        var models = new List<string>();
        if (colon >= 0)
        {
            foreach (var model in text[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                models.Add(model);
            }

            if (models.Count == 0)
            {
                throw new FormatException("an API key is followed by ':' but no model names; write KEY or KEY:model1,model2");
            }
        }

        var options = new ApiKeyOptions { Key = key, Models = models };
        if (options.Problem() is { } problem)
        {
            throw new FormatException(problem);
        }

        return options;
    }

    /// <summary>Reads a key file: one <c>KEY[:models]</c> per line, blank lines and lines starting with '#' skipped.</summary>
    public static List<ApiKeyOptions> ReadFile(string path)
    {
        var keys = new List<ApiKeyOptions>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            var text = line.Trim();
            if (text.Length == 0 || text[0] == '#')
            {
                continue;
            }

            try
            {
                var key = Parse(text);
                key.Name = $"{Path.GetFileName(path)}:{lineNumber}";
                keys.Add(key);
            }
            catch (FormatException e)
            {
                throw new FormatException($"{path} line {lineNumber}: {e.Message}", e);
            }
        }

        return keys;
    }

    internal string DisplayName(int index) => Name ?? $"key #{index + 1}";

    /// <summary>What is wrong with the key, or null. Never quotes the key.</summary>
    internal string? Problem()
    {
        if (Key.Length < MinKeyLength)
        {
            return $"an API key must be at least {MinKeyLength} characters long, got {Key.Length}";
        }

        foreach (var c in Key)
        {
            // What survives an HTTP header unchanged, minus ':' (our KEY:models separator).
            if (c is <= ' ' or > '~' or ':')
            {
                return "an API key may contain only visible ASCII characters other than ':'";
            }
        }

        foreach (var model in Models)
        {
            if (string.IsNullOrWhiteSpace(model))
            {
                return "a model name of an API key is empty";
            }
        }

        return null;
    }
}
