namespace AsrService.Onnx.Graph;

/// <summary>
/// Applies the load-time rewrites (<see cref="QuantizedMatMulRewrite"/>, then <see cref="CrossAttentionKeyRewrite"/>)
/// to a model file and caches the result beside it (<c>NAME.asr-rN.onnx</c>, where N is <see cref="Version"/>), so
/// the rewrites run once per machine. The source files are checksum-verified
/// downloads that never change in place, so the cached file stays valid until the rewrite's version changes.
/// Where the model folder is read-only the rewritten model is kept in memory instead.
/// </summary>
internal sealed class RewrittenModelFile
{
    private RewrittenModelFile(string path, byte[]? bytes, int replaced)
    {
        Path = path;
        Bytes = bytes;
        Replaced = replaced;
    }

    /// <summary>The file to load: the rewritten copy, or the original when nothing was rewritten.</summary>
    public string Path { get; }

    /// <summary>The rewritten model when it could not be written to the cache; load these bytes instead of <see cref="Path"/>.</summary>
    public byte[]? Bytes { get; }

    /// <summary>
    /// Edits made: MatMuls fused, decoder layers whose cross-attention keys were re-laid, and products given int8
    /// weights (-1 when a cached rewrite was reused and not counted).
    /// </summary>
    public int Replaced { get; }

    /// <summary>Whether <see cref="Path"/> is a copy that an earlier load wrote to the cache, rather than one written now.</summary>
    public bool FromCache => Replaced == -1;

    /// <summary>Whether the rewrite did not apply to the model, so that <see cref="Path"/> is the model itself.</summary>
    public bool IsOriginal => Bytes is null && Replaced == 0;

    /// <summary>Bumped whenever the set of rewrites or the output of one of them changes, so that cached files are rebuilt.</summary>
    public const int Version = 2;

    /// <summary>
    /// Whether the rewritten models also store their integer weights as int8 (<see cref="Int8WeightRewrite"/>): by
    /// default where that gives bit-identical results (<see cref="Int8WeightRewrite.ExactOnThisCpu"/>). Their cached
    /// files end in <c>-int8.onnx</c>, so that a model folder shared by machines of both kinds keeps one copy of each.
    /// Settable for tests and benchmarks, before the sessions to compare are created.
    /// </summary>
    internal static bool Int8Weights { get; set; } = Int8WeightRewrite.ExactOnThisCpu;

    /// <summary>
    /// Runs <paramref name="create"/> with <see cref="Int8Weights"/> set to <paramref name="on"/> and puts it back after,
    /// for tests and benchmarks that load both kinds side by side.
    /// </summary>
    internal static T WithInt8Weights<T>(bool on, Func<T> create)
    {
        var before = Int8Weights;
        Int8Weights = on;
        try
        {
            return create();
        }
        finally
        {
            Int8Weights = before;
        }
    }

    private static string Variant => Int8Weights ? "-int8" : "";

    public static string CachedPathFor(string path) =>
        System.IO.Path.ChangeExtension(path, $".asr-r{Version}{Variant}.onnx");

    /// <summary>
    /// The merged decoder's batched-step model (<see cref="BatchedStepRewrite"/>), cached as <c>NAME.asr-bN.onnx</c>,
    /// or <c>NAME.asr-bN-keys-as-exported.onnx</c> for solo decoders loaded without the rewrites.
    /// </summary>
    public static string CachedBatchedStepPathFor(string path, bool crossKeysTransposed) =>
        System.IO.Path.ChangeExtension(path, $".asr-b{BatchedStepRewrite.Version}{(crossKeysTransposed ? "" : "-keys-as-exported")}{Variant}.onnx");

    /// <summary>The merged decoder's solo-step model (<see cref="SoloStepRewrite"/>), cached as <c>NAME.asr-oN.onnx</c>.</summary>
    public static string CachedSoloStepPathFor(string path) =>
        System.IO.Path.ChangeExtension(path, $".asr-o{SoloStepRewrite.Version}{Variant}.onnx");

    /// <summary>One of the encoder's two parts for interim updates (<see cref="EncoderStemSplit"/>), cached as <c>NAME.asr-sN-PART.onnx</c>.</summary>
    public static string CachedEncoderPartPathFor(string path, string part) =>
        System.IO.Path.ChangeExtension(path, $".asr-s{EncoderStemSplit.Version}-{part}{Variant}.onnx");

    /// <summary>The file (or bytes) of the load-time rewrites applied to <paramref name="path"/>.</summary>
    public static RewrittenModelFile Prepare(string path) => Prepare(path, CachedPathFor(path), Rewrite, int8WeightsAlone: true);

    /// <summary>Applies the load-time rewrites to a serialized model: null when none of them changed anything.</summary>
    public static (byte[]? Bytes, int Replaced) Rewrite(byte[] modelBytes)
    {
        var model = Proto.Model.Parser.ParseFrom(modelBytes);
        var replaced = ApplyAll(model);
        return (replaced == 0 ? null : Google.Protobuf.MessageExtensions.ToByteArray(model), replaced);
    }

    /// <summary>Applies the load-time rewrites to <paramref name="model"/> in place; returns the edits made.</summary>
    public static int ApplyAll(Proto.Model model) => QuantizedMatMulRewrite.Apply(model) + CrossAttentionKeyRewrite.Apply(model);

    /// <summary>The file (or bytes) of the batched-step model built from the merged decoder at <paramref name="path"/>.</summary>
    public static RewrittenModelFile PrepareBatchedStep(string path, bool crossKeysTransposed) =>
        Prepare(path, CachedBatchedStepPathFor(path, crossKeysTransposed), bytes => (BatchedStepRewrite.Rewrite(bytes, crossKeysTransposed), 1));

    /// <summary>
    /// The file (or bytes) of the solo-step model built from the merged decoder at <paramref name="path"/>; its
    /// <see cref="Path"/> is <paramref name="path"/> itself when that is not a merged decoder.
    /// </summary>
    public static RewrittenModelFile PrepareSoloStep(string path) =>
        Prepare(path, CachedSoloStepPathFor(path), bytes => SoloStepRewrite.Rewrite(bytes) is { } step ? (step, 1) : (null, 0));

    /// <summary>
    /// One of the two models that <see cref="EncoderStemSplit"/> makes of the encoder at <paramref name="path"/>
    /// (<paramref name="part"/> "stem" or "rest"), cached as <c>NAME.asr-sN-PART.onnx</c>; its <see cref="Path"/> is
    /// the encoder itself when the encoder cannot be split.
    /// </summary>
    public static RewrittenModelFile PrepareEncoderPart(string path, string part) =>
        Prepare(path, CachedEncoderPartPathFor(path, part), bytes =>
        {
            var split = part == "stem" ? EncoderStemSplit.Stem(bytes) : EncoderStemSplit.Rest(bytes);
            return (split, split is null ? 0 : 1);
        });

    /// <param name="int8WeightsAlone">
    /// Whether the int8 weights are worth a rewritten copy on their own when <paramref name="rewrite"/> changes nothing
    /// (the encoder); the solo-step, batched-step and split models exist only where their own rewrite applies.
    /// </param>
    private static RewrittenModelFile Prepare(string path, string cached, Func<byte[], (byte[]? Bytes, int Replaced)> rewrite, bool int8WeightsAlone = false)
    {
        if (File.Exists(cached))
        {
            return new RewrittenModelFile(cached, null, -1);
        }

        var original = File.ReadAllBytes(path);
        var (bytes, replaced) = rewrite(original);
        if (Int8Weights && (bytes is not null || int8WeightsAlone))
        {
            var model = Proto.Model.Parser.ParseFrom(bytes ?? original);
            var converted = Int8WeightRewrite.Apply(model);
            if (converted > 0)
            {
                bytes = Google.Protobuf.MessageExtensions.ToByteArray(model);
                replaced += converted;
            }
        }

        if (bytes is null)
        {
            return new RewrittenModelFile(path, null, 0);
        }

        var temporary = $"{cached}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            File.WriteAllBytes(temporary, bytes);
            File.Move(temporary, cached, overwrite: true);
            RemoveOlderVersions(path);
            return new RewrittenModelFile(cached, null, replaced);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temporary);
            return new RewrittenModelFile(path, bytes, replaced);
        }
    }

    /// <summary>Deletes rewritten copies of <paramref name="path"/> that an earlier version of the rewrites left beside it.</summary>
    private static void RemoveOlderVersions(string path)
    {
        var stem = System.IO.Path.GetFileNameWithoutExtension(path);
        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        var pattern = new System.Text.RegularExpressions.Regex(
            $@"^{System.Text.RegularExpressions.Regex.Escape(stem)}\.asr-(?<kind>[rbso])(?<version>[0-9]+)(-keys-as-exported|-stem|-rest)?(-int8)?\.onnx$");
        foreach (var file in Directory.GetFiles(folder, stem + ".asr-*.onnx"))
        {
            var match = pattern.Match(System.IO.Path.GetFileName(file));
            if (match.Success && int.TryParse(match.Groups["version"].ValueSpan, out var version)
                && version < match.Groups["kind"].Value switch { "r" => Version, "b" => BatchedStepRewrite.Version, "o" => SoloStepRewrite.Version, _ => EncoderStemSplit.Version })
            {
                TryDelete(file);
            }
        }
    }

    /// <summary>Deletes a cached copy that turned out to be damaged, so that the next <c>Prepare</c> rebuilds it (where the folder lets it).</summary>
    public static void Discard(string cachedPath) => TryDelete(cachedPath);

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
