using AsrService.Core.Models;
using AsrService.Onnx.Graph.Proto;
using Google.Protobuf;

namespace AsrService.Onnx.Graph;

/// <summary>
/// Builds, from Moonshine's merged decoder, a model for the greedy loop's plain step: one segment, one new token. It
/// is the merged decoder's cached-step branch (<c>use_cache_branch</c> = true) made into a model of its own, after
/// the same load-time rewrites as the merged decoder (<see cref="RewrittenModelFile.ApplyAll"/>), with the batch and
/// the new tokens fixed at 1 in its inputs and outputs and only the outputs a step reads (the logits and the
/// self-attention presents). With those two sizes known at load, ONNX Runtime folds most of each layer's shape
/// arithmetic (<c>Shape → Gather → Unsqueeze → Concat → Reshape</c> chains) into constants, and no <c>If</c> node
/// runs at each step. The merged decoder still serves every other call: a segment's first call, draft checks
/// (several tokens), beams.
/// <para>Its session runs without ONNX Runtime's <c>MatMulScaleFusion</c> (<see cref="DisabledOptimizers"/>). Each
/// attention multiplies its query and its keys by a scale that the merged decoder computes from a shape at every
/// call; here the shapes are known, so the scale folds into a constant, and that fusion would fold the two
/// multiplications into the product (<c>FusedMatMul</c> with alpha = scale²), which rounds differently: steps on the
/// two models then disagreed by up to 3.4e-3 in a segment's confidence. Without it a step gives the merged decoder's
/// logits float for float, so a draft check (merged), a plain step (here) and a batched step agree as before.</para>
/// <para>It keeps every input of the merged decoder, including two the branch does not read (<c>use_cache_branch</c>
/// and <c>encoder_hidden_states</c>, whose information reaches a step through the cross-attention caches), so that
/// it takes exactly the merged decoder's step inputs and a step can run either model on the same bound values.</para>
/// </summary>
internal static class SoloStepRewrite
{
    /// <summary>
    /// Changes whenever the output changes, so that cached files are rebuilt: the version of the load-time rewrites
    /// it starts from (<see cref="RewrittenModelFile.Version"/>) times 100, plus its own, bumped when this rewrite changes.
    /// </summary>
    public const int Version = (RewrittenModelFile.Version * 100) + 1;

    /// <summary>The ONNX Runtime optimizers that the solo-step session must not run, to compute as the merged decoder does.</summary>
    public const string DisabledOptimizers = "MatMulScaleFusion";

    /// <summary>Returns the serialized step model, or null when <paramref name="mergedDecoder"/> is not a merged decoder (one <c>If</c> node on <c>use_cache_branch</c>).</summary>
    public static byte[]? Rewrite(ReadOnlySpan<byte> mergedDecoder)
    {
        var model = Model.Parser.ParseFrom(mergedDecoder);
        var merged = model.Graph;
        if (merged is null
            || merged.Node.Count != 1
            || merged.Node[0].OpType != "If"
            || merged.Node[0].Input.FirstOrDefault() != "use_cache_branch")
        {
            return null;
        }

        RewrittenModelFile.ApplyAll(model);
        var branch = merged.Node[0].Attribute.FirstOrDefault(a => a.Name == "then_branch")?.G
            ?? throw new ModelLoadException("the merged decoder's If node has no then_branch");

        var outputs = merged.Output.Where(o => o.Name == "logits" || o.Name.Contains(".decoder.", StringComparison.Ordinal)).ToList();
        var step = new Proto.Graph { Name = "solo_decoder_step" };
        step.Node.AddRange(GraphEdit.LiveNodes(branch.Node, outputs.Select(o => o.Name)));
        step.Output.AddRange(outputs);

        var initializers = merged.Initializer.Concat(branch.Initializer).ToDictionary(t => t.Name);
        var read = new HashSet<string>();
        QuantizedMatMulRewrite.CollectInputs(step, read);
        step.Initializer.AddRange(initializers.Values.Where(t => read.Contains(t.Name)));
        step.Input.AddRange(merged.Input.Where(i => !initializers.ContainsKey(i.Name)));
        foreach (var value in step.Input.Concat(step.Output))
        {
            foreach (var dim in value.Type.TensorType.Shape?.Dim ?? [])
            {
                if (dim.DimParam is "batch_size" or "decoder_sequence_length")
                {
                    dim.DimValue = 1;
                }
            }
        }

        model.Graph = step;
        return model.ToByteArray();
    }
}
