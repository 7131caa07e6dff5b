/*
 * freertos/message_buffer.h (host) - FreeRTOS message buffers: stream buffers
 * (freertos/stream_buffer.h) that keep each message whole, behind a 4-byte length (the chip's
 * size_t), as FreeRTOS's macros make them. xMessageBufferCreate(n) is one pvPortMalloc() block of
 * 40 + n + 1 bytes; a message of m bytes takes m + 4 of the n.
 */
#ifndef FREERTOS_MESSAGE_BUFFER_H_HOST
#define FREERTOS_MESSAGE_BUFFER_H_HOST

#include "freertos/stream_buffer.h"

typedef StreamBufferHandle_t MessageBufferHandle_t;
typedef StaticStreamBuffer_t StaticMessageBuffer_t;

#define xMessageBufferCreate(xBufferSizeBytes) \
    xStreamBufferGenericCreate((xBufferSizeBytes), (size_t)0, pdTRUE, NULL, NULL)
#define xMessageBufferCreateStatic(xBufferSizeBytes, pucStorage, pxStatic) \
    xStreamBufferGenericCreateStatic((xBufferSizeBytes), 0, pdTRUE, (pucStorage), (pxStatic), NULL, NULL)
#define xMessageBufferSend(xMessageBuffer, pvTxData, xDataLengthBytes, xTicksToWait) \
    xStreamBufferSend((xMessageBuffer), (pvTxData), (xDataLengthBytes), (xTicksToWait))
#define xMessageBufferSendFromISR(xMessageBuffer, pvTxData, xDataLengthBytes, pxWoken) \
    xStreamBufferSendFromISR((xMessageBuffer), (pvTxData), (xDataLengthBytes), (pxWoken))
#define xMessageBufferReceive(xMessageBuffer, pvRxData, xBufferLengthBytes, xTicksToWait) \
    xStreamBufferReceive((xMessageBuffer), (pvRxData), (xBufferLengthBytes), (xTicksToWait))
#define xMessageBufferReceiveFromISR(xMessageBuffer, pvRxData, xBufferLengthBytes, pxWoken) \
    xStreamBufferReceiveFromISR((xMessageBuffer), (pvRxData), (xBufferLengthBytes), (pxWoken))
#define vMessageBufferDelete(xMessageBuffer) vStreamBufferDelete(xMessageBuffer)
#define xMessageBufferIsFull(xMessageBuffer) xStreamBufferIsFull(xMessageBuffer)
#define xMessageBufferIsEmpty(xMessageBuffer) xStreamBufferIsEmpty(xMessageBuffer)
#define xMessageBufferReset(xMessageBuffer) xStreamBufferReset(xMessageBuffer)
#define xMessageBufferSpaceAvailable(xMessageBuffer) xStreamBufferSpacesAvailable(xMessageBuffer)
#define xMessageBufferSpacesAvailable(xMessageBuffer) xStreamBufferSpacesAvailable(xMessageBuffer)
#define xMessageBufferNextLengthBytes(xMessageBuffer) \
    xStreamBufferNextMessageLengthBytes(xMessageBuffer)
#define xMessageBufferSendCompletedFromISR(xMessageBuffer, pxWoken) \
    xStreamBufferSendCompletedFromISR((xMessageBuffer), (pxWoken))
#define xMessageBufferReceiveCompletedFromISR(xMessageBuffer, pxWoken) \
    xStreamBufferReceiveCompletedFromISR((xMessageBuffer), (pxWoken))
#define xMessageBufferGetStaticBuffers(xMessageBuffer, ppucStorage, ppxStatic) \
    xStreamBufferGetStaticBuffers((xMessageBuffer), (ppucStorage), (ppxStatic))

#endif /* FREERTOS_MESSAGE_BUFFER_H_HOST */
