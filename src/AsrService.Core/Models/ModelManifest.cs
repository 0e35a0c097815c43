using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AsrService.Core.Models;

/// <summary>One file of a model: where it comes from (an npm package and a path inside its tarball) and its SHA-256.</summary>
public sealed record ModelFileSpec(
    [property: JsonPropertyName("package")] string Package,
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("sha256")] string Sha256)
{
    /// <summary>Path of the file relative to the cache root: one folder per package version.</summary>
    public string CacheRelativePath =>
        System.IO.Path.Combine(
            Package.TrimStart('@').Replace('/', '-') + "@" + Version,
            Path.StartsWith("package/", StringComparison.Ordinal) ? Path["package/".Length..] : Path);
}

/// <summary>A named model: a kind ("moonshine", "vad", "tokenizer") and its files by role.</summary>
public sealed record ModelSpec(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("description")] string Description,
    [property: JsonPropertyName("files")] IReadOnlyDictionary<string, ModelFileSpec> Files);

/// <summary>
/// The list of models AsrService knows, read from models/manifest.json (embedded in this assembly at build time,
/// so that the manifest a binary trusts is the one it was built with).
/// </summary>
public sealed class ModelManifest
{
    public const string DefaultRegistry = "https://registry.npmjs.org";

    private static readonly Lazy<ModelManifest> s_embedded = new(LoadEmbedded);

    private readonly Dictionary<string, ModelSpec> _byName;

    private ModelManifest(string registry, IReadOnlyList<ModelSpec> models)
    {
        Registry = registry;
        Models = models;
        _byName = models.ToDictionary(m => m.Name, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The npm registry the files are fetched from.</summary>
    public string Registry { get; }

    public IReadOnlyList<ModelSpec> Models { get; }

    /// <summary>The manifest compiled into this assembly.</summary>
    public static ModelManifest Embedded => s_embedded.Value;

    public static ModelManifest Parse(string json)
    {
        var document = JsonSerializer.Deserialize<ManifestDocument>(json)
            ?? throw new ModelLoadException("the model manifest is empty");
        if (document.Models is null || document.Models.Count == 0)
        {
            throw new ModelLoadException("the model manifest lists no models");
        }

        return new ModelManifest(document.Registry ?? DefaultRegistry, document.Models);
    }

    public bool TryGet(string name, out ModelSpec model) => _byName.TryGetValue(name, out model!);

    public ModelSpec Get(string name) =>
        _byName.TryGetValue(name, out var model)
            ? model
            : throw new ModelLoadException(
                $"unknown model '{name}'; known models: {string.Join(", ", Models.Where(m => m.Kind == "moonshine").Select(m => m.Name))}, or a folder holding encoder_model.onnx and decoder_model_merged.onnx");

    private static ModelManifest LoadEmbedded()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("AsrService.models.manifest.json")
            ?? throw new ModelLoadException("the model manifest is missing from the build");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd());
    }

    private sealed record ManifestDocument(
        [property: JsonPropertyName("registry")] string? Registry,
        [property: JsonPropertyName("models")] List<ModelSpec>? Models);
}
