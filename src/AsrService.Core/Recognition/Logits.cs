using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace AsrService.Core.Recognition;

/// <summary>
/// The greedy choice and log-probabilities, read from a row of logits in place without allocating. This runs once per
/// decoder step over the whole vocabulary (32,768 entries for Moonshine), so it is written for that: three passes
/// (maximum, first index of the maximum, exp-sum) where the plain form takes five; see
/// benchmarks/results/2026-11-21-logits.md.
/// </summary>
public static class Logits
{
    /// <summary>
    /// The index of the largest logit, the first one on ties; with a NaN anywhere, the first NaN's (as
    /// <see cref="TensorPrimitives.IndexOfMax{T}(ReadOnlySpan{T})"/>, which this equals on every row).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("no logits", nameof(logits));
        }

        var max = TensorPrimitives.Max(logits);
        return float.IsNaN(max) ? TensorPrimitives.IndexOfMax(logits) : IndexOfBits(logits, max);
    }

    /// <summary>
    /// log(sum(exp(logits))), computed as max + log(sum(exp(logits - max))) so that it cannot overflow;
    /// <c>logits[t] - LogSumExp(logits)</c> is the log-probability of token t.
    /// </summary>
    public static double LogSumExp(ReadOnlySpan<float> logits) => LogSumExp(logits, TensorPrimitives.Max(logits));

    /// <summary><see cref="LogSumExp(ReadOnlySpan{float})"/> when the row's maximum is already known.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double LogSumExp(ReadOnlySpan<float> logits, float max) => max + Math.Log(SumOfExpBelow(logits, max));

    /// <summary>The greedy token of a row and its log-probability.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Greedy(ReadOnlySpan<float> logits, out double logProbability)
    {
        var token = ArgMax(logits);
        var max = logits[token];
        logProbability = max - LogSumExp(logits, max);
        return token;
    }

    /// <summary>sum(exp(logits - max)) in one pass, with no scratch row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SumOfExpBelow(ReadOnlySpan<float> logits, float max)
    {
        var vectors = MemoryMarshal.Cast<float, Vector256<float>>(logits);
        var shift = Vector256.Create(max);
        var sum = Vector256<float>.Zero;
        foreach (var vector in vectors)
        {
            sum += Vector256.Exp(vector - shift);
        }

        double total = Vector256.Sum(sum);
        for (var i = vectors.Length * Vector256<float>.Count; i < logits.Length; i++)
        {
            total += MathF.Exp(logits[i] - max);
        }

        return total;
    }

    /// <summary>The first index whose bits equal <paramref name="value"/>'s (so +0 and -0 are told apart, as a maximum does).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int IndexOfBits(ReadOnlySpan<float> logits, float value)
    {
        var bits = MemoryMarshal.Cast<float, int>(logits);
        var target = BitConverter.SingleToInt32Bits(value);
        var vectors = MemoryMarshal.Cast<int, Vector256<int>>(bits);
        var wanted = Vector256.Create(target);
        for (var v = 0; v < vectors.Length; v++)
        {
            var matches = Vector256.Equals(vectors[v], wanted).ExtractMostSignificantBits();
            if (matches != 0)
            {
                return (v * Vector256<int>.Count) + System.Numerics.BitOperations.TrailingZeroCount(matches);
            }
        }

        for (var i = vectors.Length * Vector256<int>.Count; i < bits.Length; i++)
        {
            if (bits[i] == target)
            {
                return i;
            }
        }

        throw new InvalidOperationException("the maximum is not in the row");
    }
}
