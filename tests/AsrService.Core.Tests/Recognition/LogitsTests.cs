using System.Numerics.Tensors;
using AsrService.Core.Recognition;

namespace AsrService.Core.Tests.Recognition;

/// <summary>
/// <see cref="Logits"/> against plain references: <see cref="TensorPrimitives.IndexOfMax{T}(ReadOnlySpan{T})"/> for the
/// argmax, and a double-precision log-sum-exp, on rows whose lengths are and are not whole vectors.
/// </summary>
public sealed class LogitsTests
{
    public static TheoryData<int> Lengths => new() { 1, 7, 8, 9, 31, 1000, 32_768, 32_771 };

    [Theory]
    [MemberData(nameof(Lengths))]
    public void ArgMax_EqualsIndexOfMax_OnRandomRowsWithAWinnerAnywhere(int length)
    {
        var random = new Random(length);
        for (var trial = 0; trial < 20; trial++)
        {
            var row = RandomRow(random, length);
            row[random.Next(length)] = 40f;
            Assert.Equal(TensorPrimitives.IndexOfMax<float>(row), Logits.ArgMax(row));
        }
    }

    [Fact]
    public void ArgMax_OnTies_TakesTheFirst_AndTellsPositiveZeroFromNegativeZero()
    {
        var tied = new float[100];
        Array.Fill(tied, -3f);
        tied[70] = 2f;
        tied[41] = 2f;
        Assert.Equal(41, Logits.ArgMax(tied));

        var zeros = new float[40];
        Array.Fill(zeros, -1f);
        zeros[5] = -0f;
        zeros[33] = 0f;
        Assert.Equal(TensorPrimitives.IndexOfMax<float>(zeros), Logits.ArgMax(zeros));
        Assert.Equal(33, Logits.ArgMax(zeros));
    }

    [Fact]
    public void ArgMax_WithNaN_ReturnsTheFirstNaNLikeIndexOfMax()
    {
        var row = RandomRow(new Random(3), 64);
        row[50] = float.NaN;
        row[20] = float.NaN;
        Assert.Equal(20, Logits.ArgMax(row));
        Assert.Throws<ArgumentException>(() => Logits.ArgMax(ReadOnlySpan<float>.Empty));
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void LogSumExp_MatchesADoublePrecisionReference(int length)
    {
        var random = new Random(100 + length);
        var row = RandomRow(random, length);
        row[0] = 30f; // a confident step: one logit far above the rest

        var max = row.Max();
        var reference = max + Math.Log(row.Sum(x => Math.Exp(x - (double)max)));
        Assert.Equal(reference, Logits.LogSumExp(row), 4);

        var spread = RandomRow(random, length).Select(x => x * 0.1f).ToArray(); // a flat row: every term counts
        var spreadMax = spread.Max();
        var spreadReference = spreadMax + Math.Log(spread.Sum(x => Math.Exp(x - (double)spreadMax)));
        Assert.Equal(spreadReference, Logits.LogSumExp(spread), 4);
    }

    [Fact]
    public void Greedy_ReturnsTheArgmaxAndItsLogProbability()
    {
        var row = RandomRow(new Random(9), 32_768);
        row[12_345] = 18f;

        var token = Logits.Greedy(row, out var logProbability);

        Assert.Equal(12_345, token);
        var reference = 18.0 - (18.0 + Math.Log(row.Sum(x => Math.Exp(x - 18.0))));
        Assert.Equal(reference, logProbability, 4);
        Assert.True(logProbability < 0);
    }

    [Fact]
    public void LogSumExp_OfLargeLogits_DoesNotOverflow()
    {
        var row = new float[] { 1000f, 999f, 998f, 1000f, 997f, 996f, 995f, 994f, 993f };
        var expected = 1000 + Math.Log(2 + Math.Exp(-1) + Math.Exp(-2) + Math.Exp(-3) + Math.Exp(-4) + Math.Exp(-5) + Math.Exp(-6) + Math.Exp(-7));
        Assert.Equal(expected, Logits.LogSumExp(row), 4);
    }

    private static float[] RandomRow(Random random, int length)
    {
        var row = new float[length];
        for (var i = 0; i < length; i++)
        {
            row[i] = (float)((random.NextDouble() * 20.0) - 10.0);
        }

        return row;
    }
}
