using SharpCnn.Data;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Data;

/// <summary>
/// A generated colour task: each image is grey noise with a coloured square at a random place; its class is
/// the square's colour, one of ten whose lumas are close (several differ by only a few grey levels), so a
/// model must see colour to tell them apart. The same construction as tests/onnx-check/make_colour_task.py.
/// </summary>
internal static class ColourTask
{
    /// <summary>The ten colours (red, green, blue), by class; the lumas lie between 105 and 128.</summary>
    public static readonly (byte R, byte G, byte B)[] Colours =
    [
        (220, 60, 60), (40, 160, 40), (80, 110, 250), (150, 150, 20), (20, 150, 150),
        (200, 60, 200), (230, 100, 20), (120, 90, 200), (120, 120, 120), (160, 100, 60),
    ];

    /// <summary><paramref name="count"/> images of 3 x <paramref name="size"/> x <paramref name="size"/>, seeded.</summary>
    public static ImageDataSet Make(int count, int size, ulong seed)
    {
        var rng = new Rng(seed);
        int plane = size * size, square = Math.Max(3, size / 3);
        var pixels = new byte[count * 3 * plane];
        var labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            int label = rng.NextInt(10);
            labels[i] = (byte)label;
            var image = pixels.AsSpan(i * 3 * plane, 3 * plane);
            for (int p = 0; p < plane; p++)
            {
                byte grey = (byte)rng.NextInt(110);
                image[p] = image[plane + p] = image[2 * plane + p] = grey;
            }
            int top = rng.NextInt(size - square + 1), left = rng.NextInt(size - square + 1);
            var (r, g, b) = Colours[label];
            for (int y = top; y < top + square; y++)
                for (int x = left; x < left + square; x++)
                {
                    int jitter = rng.NextInt(21) - 10;
                    image[y * size + x] = (byte)Math.Clamp(r + jitter, 0, 255);
                    image[plane + y * size + x] = (byte)Math.Clamp(g + jitter, 0, 255);
                    image[2 * plane + y * size + x] = (byte)Math.Clamp(b + jitter, 0, 255);
                }
        }
        return new ImageDataSet(pixels, labels, new Shape(3, size, size), 10,
            ["red", "green", "blue", "olive", "teal", "magenta", "orange", "violet", "grey", "brown"]);
    }
}
