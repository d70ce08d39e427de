using SharpCnn.Data;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Data;

public sealed class PixelImageTests
{
    [Fact]
    public void RgbaBecomesPlanesOrLumaWithTransparencyOverWhite()
    {
        byte[] rgba = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 0, 10, 20, 30, 128];
        var colour = PixelImage.FromRgba(2, 2, rgba, 3);
        Assert.Equal(new Shape(3, 2, 2), colour.Shape);
        Assert.Equal([255, 0, 255, 132, 0, 255, 255, 137, 0, 0, 255, 142], colour.Pixels.ToArray());
        var grey = PixelImage.FromRgba(2, 2, rgba, 1);
        // Luma, then over white: the same numbers GreyImage gives for the same PNG pixels.
        Assert.Equal([76, 150, 255, (byte)Math.Round((0.299 * 10 + 0.587 * 20 + 0.114 * 30) * (128 / 255.0) + 255 * (1 - 128 / 255.0), MidpointRounding.AwayFromZero)], grey.Pixels.ToArray());
        Assert.Equal(grey.Pixels.ToArray(), colour.ToChannels(1).Pixels.ToArray()[..3].Concat(grey.Pixels.ToArray()[3..]).ToArray());
    }

    [Fact]
    public void GreyRepeatsIntoThreePlanesAndResizesPerChannel()
    {
        var grey = new PixelImage(1, 2, 3, [0, 50, 100, 150, 200, 250]);
        var colour = grey.ToChannels(3);
        Assert.Equal([.. grey.Pixels, .. grey.Pixels, .. grey.Pixels], colour.Pixels.ToArray());
        Assert.Equal(grey.ToChannels(1).Pixels.ToArray(), colour.ToChannels(1).Pixels.ToArray());
        var small = colour.Resize(1, 1);
        Assert.Equal([125, 125, 125], small.Pixels.ToArray());
        Assert.Equal(new GreyImage(3, 2, grey.Pixels).Resize(5, 4).Pixels.ToArray(), grey.Resize(5, 4).Pixels.ToArray());
        Assert.Equal(255 - 50, grey.Invert()[0, 1, 0]);
    }

    [Fact]
    public void PngFilesReadThroughSharpCnnsOwnReader()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Digits", "2-rgb.png");
        var colour = PixelImage.LoadPng(path);
        var grey = PixelImage.LoadPng(path, channels: 1);
        Assert.Equal(3, colour.Channels);
        Assert.Equal(GreyImage.Load(path).Pixels.ToArray(), grey.Pixels.ToArray());
    }
}
