-- A copy of the database never talks to the real providers with our secrets.
UPDATE dunning_channel
   SET wa_access_token = NULL,
       wa_app_secret = NULL,
       wa_verify_token = NULL,
       sms_twilio_auth_token = NULL,
       active = (channel_type = 'sandbox');
