using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AsrService.Onnx;

/// <summary>
/// The merged Moonshine decoder's inputs and outputs by name and position, and the constant values its calls bind
/// (the two use_cache_branch flags, and the empty past caches of a first call). One per decoding session; the
/// greedy loop and the beam search share it.
/// </summary>
internal sealed class MoonshineDecoderInputs : IDisposable
{
    // Positions in Names (and so in an input array).
    public const int TokenInput = 0;
    public const int EncoderInput = 1;
    public const int CacheBranchInput = 2;
    public const int FirstPastInput = 3;

    private readonly OrtValue _noCache;
    private readonly OrtValue _emptyCache;
    private readonly OrtValue _emptyCrossKeys;

    public MoonshineDecoderInputs(MoonshineLayout layout)
    {
        CacheCount = layout.Layers * 2;
        Names = ["input_ids", "encoder_hidden_states", "use_cache_branch", .. layout.PastDecoderNames, .. layout.PastEncoderNames];
        FirstOutputNames = ["logits", .. layout.PresentDecoderNames, .. layout.PresentEncoderNames];
        StepOutputNames = ["logits", .. layout.PresentDecoderNames];
        _noCache = OrtValue.CreateTensorValueFromMemory(new[] { false }, [1]);
        UseCache = OrtValue.CreateTensorValueFromMemory(new[] { true }, [1]);
        _emptyCache = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [1, layout.Heads, 0, layout.HeadSize]);
        _emptyCrossKeys = layout.CrossKeysTransposed
            ? OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [1, layout.Heads, layout.HeadSize, 0])
            : _emptyCache;
    }

    /// <summary>Self-attention caches (keys and values of every layer); as many cross-attention caches follow them.</summary>
    public int CacheCount { get; }

    public string[] Names { get; }

    /// <summary>A first call's outputs: logits, then the self- and the cross-attention caches.</summary>
    public string[] FirstOutputNames { get; }

    /// <summary>A later step's outputs: logits, then the self-attention caches.</summary>
    public string[] StepOutputNames { get; }

    /// <summary>use_cache_branch = true, for every step after the first.</summary>
    public OrtValue UseCache { get; }

    /// <summary>Binds a first call (use_cache_branch = false, no past): <paramref name="ids"/> against <paramref name="encoderOutput"/>.</summary>
    public void BindFirstCall(OrtValue[] inputs, OrtValue ids, OrtValue encoderOutput)
    {
        inputs[TokenInput] = ids;
        inputs[EncoderInput] = encoderOutput;
        inputs[CacheBranchInput] = _noCache;
        Array.Fill(inputs, _emptyCache, FirstPastInput, CacheCount * 2);
        for (var i = FirstPastInput + CacheCount; i < FirstPastInput + CacheCount * 2; i += 2)
        {
            inputs[i] = _emptyCrossKeys; // layer-major, key then value
        }
    }

    public void Dispose()
    {
        _noCache.Dispose();
        UseCache.Dispose();
        _emptyCache.Dispose();
        if (_emptyCrossKeys != _emptyCache)
        {
            _emptyCrossKeys.Dispose();
        }
    }
}
