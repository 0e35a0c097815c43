using System.Globalization;

namespace AsrService.Benchmarks;

/// <summary>The options of the benchmark program's own commands (<c>interims</c>, <c>solo-step</c>, <c>profile</c>, <c>projection</c>): <c>--name value</c> pairs.</summary>
internal static class CommandOptions
{
    /// <summary>The value after <paramref name="name"/>, or null when it is not given.</summary>
    public static string? Option(string[] args, string name)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }

    /// <summary>The number after <paramref name="name"/>, or <paramref name="fallback"/>; anything else is an <see cref="ArgumentException"/>.</summary>
    public static double Number(string[] args, string name, double fallback) =>
        Option(args, name) is not { } text ? fallback
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && value < int.MaxValue ? value
        : throw new ArgumentException($"{name}: '{text}' is not a number");
}
