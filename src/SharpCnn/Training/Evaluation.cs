using System.Text;
using SharpCnn.Data;
using SharpCnn.Model;

namespace SharpCnn.Training;

/// <summary>Accuracy, mean loss and confusion matrix of a model on a data set.</summary>
/// <param name="Accuracy">Fraction of samples whose arg-max output is the label.</param>
/// <param name="Loss">Mean loss.</param>
/// <param name="Confusion">Counts [true label, predicted class].</param>
/// <param name="Count">Samples evaluated.</param>
public sealed record Evaluation(double Accuracy, double Loss, int[,] Confusion, int Count)
{
    /// <summary>The confusion matrix as a text table (rows: true label, columns: predicted).</summary>
    public string FormatConfusion()
    {
        int k = Confusion.GetLength(0);
        var sb = new StringBuilder();
        sb.Append("true\\pred");
        for (int j = 0; j < k; j++) sb.Append($"{j,6}");
        sb.AppendLine($"{"recall",8}");
        for (int i = 0; i < k; i++)
        {
            sb.Append($"{i,9}");
            int row = 0;
            for (int j = 0; j < k; j++)
            {
                sb.Append($"{Confusion[i, j],6}");
                row += Confusion[i, j];
            }
            sb.AppendLine(row == 0 ? $"{"-",8}" : $"{(double)Confusion[i, i] / row,8:P1}");
        }
        return sb.ToString().TrimEnd();
    }
}

/// <summary>Evaluates a network on a data set, in batches, in evaluation mode.</summary>
public static class Evaluator
{
    /// <summary>Runs <paramref name="network"/> over <paramref name="data"/> and scores it.</summary>
    public static Evaluation Evaluate<T>(Network<T> network, ImageDataSet data, int batchSize = 256) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (data.Count == 0) throw new ArgumentException("cannot evaluate on an empty data set", nameof(data));
        if (data.Shape.Size != network.InputShape.Size) throw new ArgumentException($"the data's samples are {data.Shape}, the network takes {network.InputShape}");
        int classes = network.Classes;
        var confusion = new int[classes, classes];
        double lossSum = 0;
        int correct = 0;
        using var inference = new Inference<T>(network, batchSize);
        foreach (var batch in inference.Batches(data))
        {
            var labels = batch.Labels;
            lossSum += double.CreateChecked(network.ComputeLoss(labels, batch.Count)) * batch.Count;
            for (int s = 0; s < batch.Count; s++)
            {
                int predicted = ArgMax(batch.Output(s));
                if (labels[s] < classes) confusion[labels[s], predicted]++;
                if (predicted == labels[s]) correct++;
            }
        }
        return new Evaluation((double)correct / data.Count, lossSum / data.Count, confusion, data.Count);
    }

    /// <summary>Index of the largest value (the first on ties; NaN never wins).</summary>
    public static int ArgMax<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best] || T.IsNaN(values[best])) best = i;
        return best;
    }
}
