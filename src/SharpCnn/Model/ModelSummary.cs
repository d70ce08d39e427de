using System.Text;
using SharpCnn.Tensors;

namespace SharpCnn.Model;

/// <summary>One row of a network summary.</summary>
/// <param name="Index">1-based layer position (0 for the input row).</param>
/// <param name="Token">The layer's spec token.</param>
/// <param name="Output">Per-sample output shape.</param>
/// <param name="Parameters">Trained values.</param>
/// <param name="Flops">Forward floating-point operations per sample.</param>
public sealed record LayerSummary(int Index, string Token, Shape Output, long Parameters, long Flops);

/// <summary>Every layer's output shape, parameter count and FLOPs.</summary>
public static class ModelSummary
{
    /// <summary>The rows of the summary: the input, then one per layer.</summary>
    public static IReadOnlyList<LayerSummary> Rows<T>(Network<T> network) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rows = new List<LayerSummary> { new(0, "input", network.InputShape, 0, 0) };
        for (int k = 0; k < network.Layers.Count; k++)
        {
            var l = network.Layers[k];
            rows.Add(new LayerSummary(k + 1, l.Token, l.OutputShape, l.ParameterCount, l.ForwardFlops));
        }
        return rows;
    }

    /// <summary>The summary as a plain-text table.</summary>
    public static string Format<T>(Network<T> network) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rows = Rows(network);
        var sb = new StringBuilder();
        int w = Math.Max(12, rows.Max(r => r.Token.Length) + 2);
        sb.AppendLine($"{"#",3}  {"layer".PadRight(w)}{"output",-14}{"params",12}{"FLOPs",16}");
        foreach (var r in rows)
            sb.AppendLine($"{r.Index,3}  {r.Token.PadRight(w)}{r.Output.ToString(),-14}{r.Parameters,12:N0}{r.Flops,16:N0}");
        sb.AppendLine($"     {"total".PadRight(w)}{"",-14}{network.ParameterCount,12:N0}{network.ForwardFlops,16:N0}");
        sb.Append($"     loss: {network.Loss.Name}; forward {network.ForwardFlops / 1e6:F1} MFLOP per sample, about {3 * network.ForwardFlops / 1e6:F1} MFLOP per training sample");
        return sb.ToString();
    }
}
