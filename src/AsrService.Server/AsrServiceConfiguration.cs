using Microsoft.Extensions.Configuration;

namespace AsrService.Server;

/// <summary>Reads <see cref="AsrServiceOptions"/> from configuration (JSON files, environment variables).</summary>
public static class AsrServiceConfiguration
{
    /// <summary>The configuration section the options live in, e.g. <c>Asr:MaxConcurrentStreams</c> or the
    /// environment variable <c>Asr__MaxConcurrentStreams</c>.</summary>
    public const string SectionName = "Asr";

    /// <summary>
    /// Sets the properties named in the "Asr" section of <paramref name="configuration"/> on
    /// <paramref name="options"/>, leaving the others as they are. Durations are written <c>hh:mm:ss</c>
    /// (e.g. "00:00:30"); API keys as objects (<c>{ "Key": "...", "Models": ["tiny"], "Name": "team-a" }</c>).
    /// </summary>
    public static AsrServiceOptions Bind(IConfiguration configuration, AsrServiceOptions options)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(options);
        configuration.GetSection(SectionName).Bind(options, binder => binder.ErrorOnUnknownConfiguration = true);
        return options;
    }
}
