using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using static AsrService.Onnx.MoonshineDecoderInputs;

namespace AsrService.Onnx;

/// <summary>
/// The greedy loop's decoder step, called through ONNX Runtime's C API directly so that a steady-state step allocates
/// nothing on the managed heap.
/// </summary>
/// <remarks>
/// The C# API's <c>InferenceSession.Run</c> looks every name up and converts it to UTF-8, copies the input handles into
/// a new array and wraps each output in a new <see cref="OrtValue"/> inside a new list: about 1.9 KB per step for
/// tiny. Here the names are converted once, the input and output handle arrays are reused, and the outputs stay raw
/// handles owned by this object: the step's present self-attention caches are bound as the next step's past, and the
/// previous step's outputs are released once the next run has finished with them. The C API is reached through
/// the ONNX Runtime assembly's internal bindings, which its project opens to this one (InternalsVisibleTo); nothing
/// else in the service uses them.
/// </remarks>
internal sealed unsafe class NativeDecoderStep : IDisposable
{
    private readonly InferenceSession _decoder;
    private readonly InferenceSession? _soloStep;
    private readonly RunOptions _runOptions;
    private readonly int _cacheCount;
    private readonly int _vocabulary;
    private readonly IntPtr[] _inputNames;
    private readonly IntPtr[] _outputNames;
    private readonly IntPtr[] _inputs;
    private readonly IntPtr[] _outputs;
    private readonly IntPtr[] _owned;
    // Caches cut from a check's presents (KeepPast): the next run's past, disposed once that run is done with them.
    private OrtValue[]? _keptPast;
    private bool _disposed;

    /// <param name="decoder">The merged decoder, which runs calls of several tokens.</param>
    /// <param name="soloStep">The solo-step model (<see cref="Graph.SoloStepRewrite"/>), which runs calls of one token; null to run those on <paramref name="decoder"/> too.</param>
    public NativeDecoderStep(InferenceSession decoder, InferenceSession? soloStep, RunOptions runOptions, MoonshineDecoderInputs bindings, int vocabulary)
    {
        _decoder = decoder;
        _soloStep = soloStep;
        _runOptions = runOptions;
        _cacheCount = bindings.CacheCount;
        _vocabulary = vocabulary;
        _inputNames = bindings.Names.Select(Marshal.StringToCoTaskMemUTF8).ToArray();
        _outputNames = bindings.StepOutputNames.Select(Marshal.StringToCoTaskMemUTF8).ToArray();
        _inputs = new IntPtr[_inputNames.Length];
        _outputs = new IntPtr[_outputNames.Length];
        _owned = new IntPtr[_outputNames.Length];
    }

    /// <summary>Runs made on the solo-step model (for tests).</summary>
    internal long SoloRuns { get; private set; }

    /// <summary>
    /// Takes the handles of a full set of step inputs (token, encoder output, use_cache_branch = true, self- and
    /// cross-attention caches). The values must stay alive while steps run; outputs of earlier steps are released.
    /// </summary>
    public void Bind(OrtValue[] inputs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Release();
        for (var i = 0; i < _inputs.Length; i++)
        {
            _inputs[i] = inputs[i].Handle;
        }
    }

    /// <summary>
    /// Runs the decoder on the bound inputs (the token is read from the buffer its input value wraps), binds the
    /// present self-attention caches as the next step's past, and returns the step's logits. A step feeds one token,
    /// so the logits are one row of vocabulary size.
    /// The span is valid until the next run, <see cref="Bind"/> or <see cref="Release"/>.
    /// </summary>
    public ReadOnlySpan<float> Run() => RunBound(1);

    /// <summary>
    /// Like <see cref="Run()"/>, but feeds the <paramref name="count"/> tokens of <paramref name="tokens"/> ([1, count])
    /// in one call, to check several draft tokens at once: returns <paramref name="count"/> rows of logits, and the
    /// presents bound as the next past hold every one of those positions (<see cref="KeepPast"/> drops the rest).
    /// </summary>
    public ReadOnlySpan<float> Run(OrtValue tokens, int count)
    {
        var single = _inputs[TokenInput];
        _inputs[TokenInput] = tokens.Handle;
        try
        {
            return RunBound(count);
        }
        finally
        {
            _inputs[TokenInput] = single;
        }
    }

    /// <summary>
    /// Cuts the past bound for the next run (the last run's presents) to its first <paramref name="keep"/> positions:
    /// copies those into caches of its own and releases the presents. The last run's logits stay valid.
    /// </summary>
    public void KeepPast(int keep)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_owned[1] == IntPtr.Zero)
        {
            throw new InvalidOperationException("only the presents of the last run can be cut");
        }

        var kept = new OrtValue[_cacheCount];
        for (var i = 0; i < _cacheCount; i++)
        {
            using var present = new OrtValue(_owned[1 + i], owned: false);
            kept[i] = FirstPositions(present, keep);
        }

        for (var i = 0; i < _cacheCount; i++)
        {
            NativeMethods.OrtReleaseValue(_owned[1 + i]);
            _owned[1 + i] = IntPtr.Zero;
            _inputs[FirstPastInput + i] = kept[i].Handle;
        }

        DisposeKeptPast();
        _keptPast = kept;
    }

    /// <summary>A new self-attention cache ([1, heads, positions, head size]) holding the first <paramref name="keep"/> positions of <paramref name="cache"/>.</summary>
    public static OrtValue FirstPositions(OrtValue cache, int keep)
    {
        var shape = cache.GetTensorTypeAndShape().Shape;
        var (heads, positions, headSize) = ((int)shape[1], (int)shape[2], (int)shape[3]);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(keep, positions);
        var kept = OrtValue.CreateAllocatedTensorValue(
            OrtAllocator.DefaultInstance, Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float, [1, heads, keep, headSize]);
        var from = cache.GetTensorDataAsSpan<float>();
        var to = kept.GetTensorMutableDataAsSpan<float>();
        for (var head = 0; head < heads; head++)
        {
            from.Slice(head * positions * headSize, keep * headSize).CopyTo(to.Slice(head * keep * headSize, keep * headSize));
        }

        return kept;
    }

    private ReadOnlySpan<float> RunBound(int rows)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Array.Clear(_outputs);
        var started = OnnxRunClock.Start();
        var session = _decoder;
        if (rows == 1 && _soloStep is { } solo)
        {
            session = solo;
            SoloRuns++;
        }

        var status = NativeMethods.OrtRun(
            session.Handle, _runOptions.Handle, _inputNames, _inputs, (UIntPtr)_inputs.Length, _outputNames, (UIntPtr)_outputs.Length, _outputs);
        OnnxRunClock.StopRecognizer(started);
        if (status != IntPtr.Zero)
        {
            ReleaseOutputs(_outputs);
            NativeApiStatus.VerifySuccess(status);
        }

        // The previous step's presents (or the caches cut from them) were this step's past; ONNX Runtime is done with them now.
        ReleaseOutputs(_owned);
        DisposeKeptPast();
        Array.Copy(_outputs, _owned, _outputs.Length);
        Array.Copy(_outputs, 1, _inputs, FirstPastInput, _cacheCount);
        NativeApiStatus.VerifySuccess(NativeMethods.OrtGetTensorMutableData(_owned[0], out var logits));
        return new ReadOnlySpan<float>((float*)logits, _vocabulary * rows);
    }

    private void DisposeKeptPast()
    {
        if (_keptPast is { } kept)
        {
            _keptPast = null;
            foreach (var value in kept)
            {
                value.Dispose();
            }
        }
    }

    /// <summary>
    /// Hands the last step's present self-attention caches to the caller as values it owns (for the benchmark's
    /// frozen state); the logits are released.
    /// </summary>
    public OrtValue[] DetachPresents()
    {
        var presents = new OrtValue[_cacheCount];
        for (var i = 0; i < _cacheCount; i++)
        {
            presents[i] = new OrtValue(_owned[1 + i]);
            _owned[1 + i] = IntPtr.Zero;
        }

        Release();
        return presents;
    }

    /// <summary>Releases the last step's outputs and forgets the bound inputs.</summary>
    public void Release()
    {
        ReleaseOutputs(_owned);
        DisposeKeptPast();
        Array.Clear(_inputs);
    }

    private static void ReleaseOutputs(IntPtr[] outputs)
    {
        for (var i = 0; i < outputs.Length; i++)
        {
            if (outputs[i] != IntPtr.Zero)
            {
                NativeMethods.OrtReleaseValue(outputs[i]);
                outputs[i] = IntPtr.Zero;
            }
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        Release();
        foreach (var name in _inputNames.Concat(_outputNames))
        {
            Marshal.FreeCoTaskMem(name);
        }

        _disposed = true;
    }
}
