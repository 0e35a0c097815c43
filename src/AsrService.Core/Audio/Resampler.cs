using System.Collections.Concurrent;
using System.Numerics.Tensors;

namespace AsrService.Core.Audio;

/// <summary>
/// Band-limited sample-rate conversion between any two rates (typically 8..192 kHz down or up to 16 kHz), for a stream
/// pushed through in chunks of any size; chunk boundaries do not change the output.
/// <para>
/// Each output sample is the input convolved with a Kaiser-windowed sinc centred on the output's exact position in
/// input time, so there is no delay to compensate: output n sits at input time n * inRate / outRate. The position is
/// kept as an integer plus a fraction with denominator outRate / gcd, so it never drifts. The kernel is tabulated
/// once per phase: when outRate / gcd phases fit the table budget (48, 44.1, 32, 22.05, 8 kHz and the like into
/// 16 kHz) every phase is exact; otherwise 256 phases per input sample are tabulated and two neighbouring phases are
/// interpolated linearly (a coefficient error below -90 dB).
/// </para>
/// <para>
/// Design, relative to the lower of the two rates (the output rate when downsampling): passband to 0.475 of it
/// (7.6 kHz for 16 kHz output), stopband from 0.5 of it (the output Nyquist, 8 kHz), Kaiser window designed for
/// 90 dB. Measured with tones through this class into 16 kHz: passband flat within +/-0.0002 dB up to 7.6 kHz (the
/// requirement is +/-0.1 dB to 7.2 kHz); tones from 8 kHz up to the input Nyquist come out at least 93 dB down from
/// 22.05..48 kHz (98 dB from 48 kHz, 103 dB from 96 kHz, 114 dB from 192 kHz; the requirement is 60, the aim 80);
/// upsampling from 8 or 11.025 kHz leaves images and other residue at least 99 dB down. The price is the length:
/// 688 taps per output sample from 48 kHz, 632 from 44.1 kHz, 230 from 8 kHz, growing with the input rate.
/// </para>
/// <para>
/// Outputs are clipped to [-1, 1], the range every audio source promises: like any band-limited filter this one rings
/// past a full-scale step (Gibbs), so clipped or square-wave input would otherwise come out at up to about 1.3.
/// </para>
/// <para>
/// Not thread-safe; one instance per stream. All buffers are allocated in the constructor, so
/// <see cref="Process"/> and <see cref="Flush"/> allocate nothing. The kernel table depends on the two rates alone
/// and is never written once built, so instances for the same pair of rates share one (see <see cref="SharedTable"/>).
/// </para>
/// </summary>
public sealed class Resampler
{
    private const double PassbandEdge = 0.475;
    private const double StopbandEdge = 0.5;
    private const double DesignAttenuationDb = 90.0;
    private const int InterpolatedPhaseCount = 256;
    private const long MaxExactTableLength = 1L << 20;
    private const int BlockLength = 4096;

    /// <summary>Coefficients kept for later instances, over all pairs of rates: 32 MB.</summary>
    private const long SharedTableBudget = 8L << 20;

    private static readonly ConcurrentDictionary<(int Input, int Output), float[]> s_sharedTables = new();
    private static long s_sharedCoefficients;

    private readonly int _upFactor;
    private readonly int _downFactor;
    private readonly int _stepWhole;
    private readonly int _stepFraction;
    private readonly int _halfTaps;
    private readonly int _phaseCount;
    private readonly bool _exactPhases;
    private readonly float[] _coefficients;
    private readonly float[] _history;

    // Absolute input index of _history[0], how many samples _history holds, and how many real input samples the
    // stream has had so far (the history also holds the zeros before the first sample and, on flush, after the last).
    private long _historyStart;
    private int _historyCount;
    private long _inputCount;

    // The next output's position in input time: _nextIndex + _nextFraction / _upFactor.
    private long _nextIndex;
    private int _nextFraction;

    /// <summary>Prepares a converter from <paramref name="inputRate"/> to <paramref name="outputRate"/> (Hz).</summary>
    public Resampler(int inputRate, int outputRate)
    {
        if (!AudioLimits.IsValidSampleRate(inputRate))
        {
            throw new ArgumentOutOfRangeException(nameof(inputRate), inputRate, "sample rate out of range");
        }

        if (!AudioLimits.IsValidSampleRate(outputRate))
        {
            throw new ArgumentOutOfRangeException(nameof(outputRate), outputRate, "sample rate out of range");
        }

        InputRate = inputRate;
        OutputRate = outputRate;
        int divisor = GreatestCommonDivisor(inputRate, outputRate);
        _upFactor = outputRate / divisor;
        _downFactor = inputRate / divisor;
        _stepWhole = _downFactor / _upFactor;
        _stepFraction = _downFactor % _upFactor;

        if (IsIdentity)
        {
            _coefficients = [];
            _history = [];
            return;
        }

        // Kaiser's estimate of the length needed for the attenuation over the transition band, which is measured in
        // cycles per input sample because the kernel is sampled at the input rate.
        double transition = (StopbandEdge - PassbandEdge) * Math.Min(inputRate, outputRate) / inputRate;
        double length = (DesignAttenuationDb - 7.95) / (2.285 * 2.0 * Math.PI * transition) + 1.0;
        _halfTaps = (int)Math.Ceiling(length / 2.0);
        TapsPerPhase = 2 * _halfTaps;

        _exactPhases = (long)_upFactor * TapsPerPhase <= MaxExactTableLength;
        _phaseCount = _exactPhases ? _upFactor : InterpolatedPhaseCount;
        _coefficients = SharedTable(inputRate, outputRate, _halfTaps, _phaseCount);
        _history = new float[TapsPerPhase + BlockLength];
        Reset();
    }

    /// <summary>Input sample rate in Hz.</summary>
    public int InputRate { get; }

    /// <summary>Output sample rate in Hz.</summary>
    public int OutputRate { get; }

    /// <summary>Filter taps evaluated per output sample (0 for the identity).</summary>
    public int TapsPerPhase { get; }

    /// <summary>True when both rates are equal: samples pass through unchanged.</summary>
    public bool IsIdentity => _upFactor == _downFactor;

    /// <summary>
    /// Input samples <see cref="Process"/> holds back because later outputs still need them; they come out with
    /// later input or on <see cref="Flush"/>.
    /// </summary>
    public int LookaheadSamples => _halfTaps;

    /// <summary>
    /// An upper bound on what <see cref="Process"/> writes for <paramref name="inputCount"/> samples, and on what
    /// <see cref="Flush"/> writes (pass 0). Size output buffers with it.
    /// </summary>
    public int GetMaxOutputCount(int inputCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(inputCount);
        if (IsIdentity)
        {
            return inputCount;
        }

        long pending = (long)inputCount + 2L * _halfTaps + 1;
        return (int)Math.Min(int.MaxValue, (pending * _upFactor + _downFactor - 1) / _downFactor + 1);
    }

    /// <summary>
    /// Consumes all of <paramref name="input"/> and writes the outputs it completes; returns how many.
    /// <paramref name="output"/> must hold at least <see cref="GetMaxOutputCount"/> of the input length.
    /// </summary>
    public int Process(ReadOnlySpan<float> input, Span<float> output)
    {
        if (output.Length < GetMaxOutputCount(input.Length))
        {
            throw new ArgumentException(
                $"output holds {output.Length} samples; {input.Length} input samples need " +
                $"GetMaxOutputCount(...) = {GetMaxOutputCount(input.Length)}", nameof(output));
        }

        if (IsIdentity)
        {
            input.CopyTo(output);
            return input.Length;
        }

        int written = 0;
        while (!input.IsEmpty)
        {
            int count = Math.Min(input.Length, MakeRoom());
            input[..count].CopyTo(_history.AsSpan(_historyCount));
            _historyCount += count;
            _inputCount += count;
            input = input[count..];
            written += Produce(output[written..], long.MaxValue);
        }

        return written;
    }

    /// <summary>
    /// Ends the stream: writes the outputs still held back (as if silence followed the input) and resets, ready
    /// for a new stream. Over the whole stream the output has ceil(inputCount * outRate / inRate) samples.
    /// </summary>
    public int Flush(Span<float> output)
    {
        if (output.Length < GetMaxOutputCount(0))
        {
            throw new ArgumentException(
                $"output holds {output.Length} samples; Flush needs GetMaxOutputCount(0) = {GetMaxOutputCount(0)}",
                nameof(output));
        }

        if (IsIdentity)
        {
            return 0;
        }

        int written = 0;
        int zerosLeft = _halfTaps;
        while (zerosLeft > 0)
        {
            int count = Math.Min(zerosLeft, MakeRoom());
            _history.AsSpan(_historyCount, count).Clear();
            _historyCount += count;
            zerosLeft -= count;
            written += Produce(output[written..], _inputCount);
        }

        Reset();
        return written;
    }

    /// <summary>Forgets the stream so far, as for a new stream.</summary>
    public void Reset()
    {
        if (IsIdentity)
        {
            return;
        }

        // The first output is centred on input sample 0, so its window starts _halfTaps - 1 samples before the
        // stream: those are silence.
        _historyCount = _halfTaps - 1;
        _history.AsSpan(0, _historyCount).Clear();
        _historyStart = -_historyCount;
        _inputCount = 0;
        _nextIndex = 0;
        _nextFraction = 0;
    }

    /// <summary>
    /// Writes every output whose window lies inside the history and whose centre is before
    /// <paramref name="centreLimit"/> (in input samples).
    /// </summary>
    private int Produce(Span<float> output, long centreLimit)
    {
        int taps = TapsPerPhase;
        long historyEnd = _historyStart + _historyCount;
        ReadOnlySpan<float> coefficients = _coefficients;
        int written = 0;

        // Output centred at index i (plus a fraction) uses inputs i - halfTaps + 1 .. i + halfTaps.
        while (_nextIndex + _halfTaps < historyEnd && _nextIndex < centreLimit)
        {
            ReadOnlySpan<float> window = _history.AsSpan((int)(_nextIndex - _halfTaps + 1 - _historyStart), taps);
            float value;
            if (_exactPhases)
            {
                value = TensorPrimitives.Dot(window, coefficients.Slice(_nextFraction * taps, taps));
            }
            else
            {
                long scaled = (long)_nextFraction * _phaseCount;
                int phase = (int)(scaled / _upFactor);
                float weight = (float)(scaled % _upFactor) / _upFactor;
                float lower = TensorPrimitives.Dot(window, coefficients.Slice(phase * taps, taps));
                float upper = TensorPrimitives.Dot(window, coefficients.Slice((phase + 1) * taps, taps));
                value = lower + weight * (upper - lower);
            }

            output[written++] = Math.Clamp(value, -1f, 1f);
            _nextIndex += _stepWhole;
            _nextFraction += _stepFraction;
            if (_nextFraction >= _upFactor)
            {
                _nextFraction -= _upFactor;
                _nextIndex++;
            }
        }

        return written;
    }

    /// <summary>Drops history no future output needs once the buffer is full; returns the free space.</summary>
    private int MakeRoom()
    {
        if (_historyCount == _history.Length)
        {
            // Produce stopped at the first output whose window runs past the history, so the samples still needed
            // start at that window and number fewer than TapsPerPhase.
            int discard = (int)Math.Min(_nextIndex - _halfTaps + 1 - _historyStart, _historyCount);
            _history.AsSpan(discard, _historyCount - discard).CopyTo(_history);
            _historyCount -= discard;
            _historyStart += discard;
        }

        return _history.Length - _historyCount;
    }

    /// <summary>The kernel table in use (for tests: instances for the same rates share it).</summary>
    internal float[] Coefficients => _coefficients;

    /// <summary>
    /// The kernel table for a pair of rates, built once per process. A table holds up to about a million coefficients
    /// (for 183.24 kHz into 16 kHz; 102 thousand for 44.1 kHz), each a Bessel function evaluation: building one took
    /// 5.4 ms and 0.4 MB (44.1 kHz) up to 54 ms and 4.2 MB (183.24 kHz), on the large-object heap, for every stream
    /// opened at that rate. Shared, a later instance costs under a microsecond and 19-27 KB
    /// (benchmarks/results/2026-11-21-resampler-setup.md). Tables are kept until <see cref="SharedTableBudget"/>
    /// coefficients are held (about 80 pairs of common rates, 7 of the largest), so a client that cycles through
    /// made-up rates cannot grow the cache; past the budget each instance builds its own table, as every instance
    /// once did.
    /// </summary>
    private static float[] SharedTable(int inputRate, int outputRate, int halfTaps, int phaseCount)
    {
        if (s_sharedTables.TryGetValue((inputRate, outputRate), out var table))
        {
            return table;
        }

        table = BuildTable(inputRate, outputRate, halfTaps, phaseCount);
        if (Interlocked.Add(ref s_sharedCoefficients, table.Length) > SharedTableBudget)
        {
            Interlocked.Add(ref s_sharedCoefficients, -table.Length);
            return table;
        }

        var shared = s_sharedTables.GetOrAdd((inputRate, outputRate), table);
        if (!ReferenceEquals(shared, table))
        {
            // Another instance built the same table at the same moment and stored its copy first.
            Interlocked.Add(ref s_sharedCoefficients, -table.Length);
        }

        return shared;
    }

    /// <summary>
    /// Row p (0..phaseCount inclusive; the last row lets interpolation reach the next sample) holds the kernel for an
    /// output at fraction p / phaseCount past an input sample, over inputs -halfTaps + 1 .. halfTaps relative to it.
    /// </summary>
    private static float[] BuildTable(int inputRate, int outputRate, int halfTaps, int phaseCount)
    {
        int taps = 2 * halfTaps;
        double cutoff = 0.5 * (PassbandEdge + StopbandEdge) * Math.Min(inputRate, outputRate) / inputRate;
        double beta = 0.1102 * (DesignAttenuationDb - 8.7);
        double besselBeta = BesselI0(beta);
        var table = new float[(phaseCount + 1) * taps];
        var row = new double[taps];
        for (int phase = 0; phase <= phaseCount; phase++)
        {
            double fraction = (double)phase / phaseCount;
            double sum = 0.0;
            for (int tap = 0; tap < taps; tap++)
            {
                // Distance in input samples from the output's position to this input sample.
                double t = fraction - (tap - halfTaps + 1);
                double x = t / halfTaps;
                double window = Math.Abs(x) >= 1.0 ? 0.0 : BesselI0(beta * Math.Sqrt(1.0 - x * x)) / besselBeta;
                double arg = 2.0 * cutoff * t;
                double sinc = arg == 0.0 ? 1.0 : Math.Sin(Math.PI * arg) / (Math.PI * arg);
                row[tap] = 2.0 * cutoff * sinc * window;
                sum += row[tap];
            }

            // Unit DC gain on every phase, so the truncation does not modulate a constant signal with the phase.
            Span<float> destination = table.AsSpan(phase * taps, taps);
            for (int tap = 0; tap < taps; tap++)
            {
                destination[tap] = (float)(row[tap] / sum);
            }
        }

        return table;
    }

    /// <summary>Modified Bessel function of the first kind, order 0, by its power series.</summary>
    private static double BesselI0(double x)
    {
        double sum = 1.0;
        double term = 1.0;
        double halfX = 0.5 * x;
        for (int k = 1; k < 200; k++)
        {
            term *= halfX / k;
            double squared = term * term;
            sum += squared;
            if (squared < sum * 1e-17)
            {
                break;
            }
        }

        return sum;
    }

    private static int GreatestCommonDivisor(int a, int b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }
}
